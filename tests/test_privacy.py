"""Issue 17, privacy you can see: the per-role statement (rag.privacy) in the app and doctor, the audit log of
real remote calls and deletions (rag.audit), audio retention (`audiorag gc`), and doctor's check of servers.

The servers are real: `mlx_lm server` (tests/test_llm.py's fixture) and faster-whisper-server
(tests/test_remote_asr.py's). A host that does not exist (gpu-box.example) is only named in settings, never
contacted: the statement is read from the configuration.
"""

from __future__ import annotations

import json
import os
import shutil
import stat

import pytest

from tests.conftest import ASR_DIR, free_port
from tests.test_llm import CHAT, mlx_server  # noqa: F401  (fixture)
from tests.test_remote_asr import SERVER_MODEL, server  # noqa: F401  (fixture)

JFK = ASR_DIR / "wav16k" / "whisper_jfk.wav"
FAR = "http://gpu-box.example:8080/v1"


def _cli(*args: str) -> int:
    from rag.cli import main

    return main(list(args))


# -- the statement ---------------------------------------------------------------------------------------------
def test_nothing_remote_says_so_everywhere(settings):
    from rag.privacy import remotes, sentence, statement
    from ui.library_tab import upload_note

    roles = {r.role: r for r in statement(settings)}
    assert {"transcription", "answers", "summaries", "embeddings", "library storage"} <= set(roles)
    assert all(r.where == "this machine" and not r.remote for r in roles.values())
    assert remotes(settings) == []
    assert "nothing leaves" in sentence(settings) and "nothing leaves" in upload_note(settings)


def test_remote_llm_is_named_by_the_app_and_doctor(settings, monkeypatch):
    """Read through the app itself (build_app's components), not a browser."""
    import gradio as gr

    from rag.privacy import statement
    from ui.app import build_app

    s = settings.model_copy(update={"llm": settings.llm.model_copy(update={
        "backend": "openai", "base_url": "http://user:secret@gpu-box.example:8080/v1"})})
    roles = {r.role: r for r in statement(s)}
    assert roles["answers"].where == roles["summaries"].where == "gpu-box.example:8080"
    assert roles["answers"].remote and not roles["transcription"].remote
    demo = build_app(s)
    texts = [str(b.value) for b in demo.blocks.values() if isinstance(b, gr.Markdown)]
    tables = {b.elem_id: b.value for b in demo.blocks.values() if isinstance(b, gr.Dataframe)}
    page = "\n".join(texts) + json.dumps(tables["privacy-roles"])
    assert "nothing leaves" not in page.lower()
    note = next(t for t in texts if "Up to" in t)
    assert "answers → gpu-box.example:8080" in note and "transcription" in note
    assert ["answers", "gpu-box.example:8080", "yes"] == tables["privacy-roles"]["data"][1][:3]
    assert "secret" not in page  # a password in the URL is never shown
    api = next(f.fn for f in demo.fns.values() if f.api_name == "privacy")  # the app's /privacy endpoint
    out = api(limit=5)
    assert {r["role"]: r["where"] for r in out["roles"]}["answers"] == "gpu-box.example:8080"
    assert out["summary"] in note and out["audit"] == []


def test_object_storage_library_names_its_endpoint(settings):
    from rag.privacy import sentence, statement

    s = settings.model_copy(update={"data_dir": "s3://bucket/lib",
                                    "storage_options": {"aws_endpoint": "https://minio.example:9000"}})
    storage = next(r for r in statement(s) if r.role == "library storage")
    assert storage.where == "minio.example:9000" and storage.remote
    assert "library storage → minio.example:9000" in sentence(s)


# -- the audit log of real remote calls --------------------------------------------------------------------------
@pytest.mark.slow
def test_real_llm_call_is_audited_and_doctor_times_the_server(settings, mlx_server):  # noqa: F811
    from rag.audit import audit_path, read
    from rag.llm import clear_cache, get_llm
    from rag.privacy import remotes
    from rag.remote_check import check

    clear_cache()
    settings.llm.backend, settings.llm.base_url = "openai", mlx_server
    answer = get_llm(settings).generate(CHAT, max_tokens=24)
    assert "Paris" in answer
    port = mlx_server.split(":")[2].split("/")[0]
    calls = [e for e in read(settings) if e["what"] == "remote call"]
    assert len(calls) == 1, calls
    call = calls[0]
    assert (call["role"], call["host"], call["path"], call["status"]) == ("llm", f"127.0.0.1:{port}",
                                                                          "/v1/chat/completions", 200)
    assert call["sent"] > len("What is the capital of France?") and call["received"] > len(answer)
    raw = audit_path(settings).read_text()
    assert "France" not in raw and "Paris" not in raw  # never the content
    assert stat.S_IMODE(os.stat(audit_path(settings)).st_mode) == 0o600

    entry, problem, warning = check(remotes(settings)[0], settings)
    assert problem is None and warning is None
    assert entry["reachable"] and entry["latency_ms"] > 0 and entry["models"] and entry["request_ms"] > 0
    assert read(settings, limit=1)[0]["role"] == "doctor"  # doctor's own request is in the log too
    clear_cache()


@pytest.mark.slow
def test_real_remote_transcription_is_audited(server, settings):  # noqa: F811
    from ingest.asr.openai import OpenAIWhisper, wav_bytes
    from ingest.decode import decode
    from rag.audit import audit_path, read
    from rag.privacy import remotes
    from rag.remote_check import check

    s = settings.model_copy(update={"asr": settings.asr.model_copy(update={
        "backend": "openai", "base_url": server.url, "remote_model": SERVER_MODEL})})
    audio = decode(JFK)
    t = OpenAIWhisper(s).transcribe(audio)
    assert "country" in " ".join(seg.text for seg in t.segments).lower()
    (call,) = [e for e in read(s) if e["what"] == "remote call"]
    assert (call["role"], call["host"], call["path"], call["status"]) == (
        "transcription", f"127.0.0.1:{server.port}", "/v1/audio/transcriptions", 200)
    assert len(wav_bytes(audio)) < call["sent"] < len(wav_bytes(audio)) + 4096  # the WAV and its form fields
    assert call["received"] > 100
    assert "country" not in audit_path(s).read_text().lower()

    # faster-whisper-server 0.0.3 lists no models: doctor's half second of silence shows the model is served
    entry, problem, _ = check(remotes(s)[0], s)
    assert problem is None, problem
    assert entry["reachable"] and entry["models"] is None and entry["request_ms"] > 0
    wrong = s.model_copy(update={"asr": s.asr.model_copy(update={"remote_model": "no-such-model"})})
    entry, problem, _ = check(remotes(wrong)[0], wrong)
    assert entry["model_present"] is False and "refused half a second of audio for 'no-such-model'" in problem
    assert "asr.remote_model" in problem


# -- doctor and an unreachable server ---------------------------------------------------------------------------
def test_doctor_exits_nonzero_with_one_line_for_an_unreachable_server(settings, monkeypatch, capsys):
    assert _cli("doctor", "--quick", "--json") in (0, 1)
    before = json.loads(capsys.readouterr().out)
    assert before["servers"] == [] and before["privacy"]["answers"] == "this machine"

    port = free_port()  # nothing listens there
    monkeypatch.setenv("AUDIORAG_LLM__BACKEND", "openai")
    monkeypatch.setenv("AUDIORAG_LLM__BASE_URL", f"http://127.0.0.1:{port}/v1")
    assert _cli("doctor", "--quick", "--json") == 1
    after = json.loads(capsys.readouterr().out)
    new = [p for p in after["problems"] if p not in before["problems"]]
    assert len(new) == 1 and f"127.0.0.1:{port}" in new[0] and "unreachable" in new[0]
    assert "llm.base_url" in new[0] and "\n" not in new[0]
    assert after["servers"][0]["reachable"] is False
    from rag.audit import read

    (call,) = [e for e in read(settings) if e["what"] == "remote call"]  # doctor's failed request, logged
    assert (call["role"], call["host"], call["status"]) == ("doctor", f"127.0.0.1:{port}", "failed (ConnectError)")
    assert after["privacy"]["answers"] == f"127.0.0.1:{port} (this machine)"


# -- retention -------------------------------------------------------------------------------------------------
@pytest.fixture
def jfk_library(settings, pack, monkeypatch):
    """JFK ingested with the real pipeline, and a copy of it in the upload cache (as the app leaves one)."""
    if not JFK.exists():
        pytest.skip(f"shared audio not found at {ASR_DIR}")
    from ingest.pipeline import Item, Pipeline

    for name in (settings.asr.model, settings.embed.model):
        pack(name)
    pipe = Pipeline(settings)
    result = pipe.ingest_item(Item(JFK, "audio", audio=JFK))
    assert result.status == "ingested", result.reason
    upload = pipe.store.settings.data_path("uploads", "abc123", "speech.wav")
    os.makedirs(os.path.dirname(upload))
    shutil.copyfile(JFK, upload)
    return pipe.store, result.episode_id, upload


@pytest.mark.slow
def test_gc_with_zero_days_removes_audio_and_keeps_the_text_searchable(jfk_library, settings, monkeypatch,
                                                                       capsys):
    from rag.audit import read
    from rag.search import search
    from rag.store import Store

    store, episode_id, upload = jfk_library
    copy = store.get_episode(episode_id).audio_path
    assert os.path.exists(copy)

    assert _cli("gc") == 0 and "no retention is set" in capsys.readouterr().out  # none configured: nothing
    monkeypatch.setenv("AUDIORAG_RETENTION__AUDIO_DAYS", "30")
    assert _cli("gc") == 0 and "removed 0 episode(s)" in capsys.readouterr().out  # added today: kept
    monkeypatch.setenv("AUDIORAG_RETENTION__AUDIO_DAYS", "0")
    assert _cli("gc", "--dry-run", "--json") == 0
    (planned,) = json.loads(capsys.readouterr().out)
    assert planned["episode_id"] == episode_id and set(planned["files"]) == {copy, upload}
    assert os.path.exists(copy) and os.path.exists(upload)  # a dry run removes nothing

    assert _cli("gc") == 0
    out = capsys.readouterr().out
    assert "removed the audio of" in out and "removed 1 episode(s)" in out
    assert not os.path.exists(copy) and not os.path.exists(upload)
    fresh = Store(settings)
    ep = fresh.get_episode(episode_id)
    assert ep.audio_path is None and ep.status == "ready"
    hits = search("ask what you can do for your country", k=3, settings=settings, store=fresh).passages
    assert hits and hits[0].episode_id == episode_id
    (event,) = [e for e in read(settings) if e["what"] == "gc audio"]
    assert event["episode"] == episode_id and event["files_removed"] == 2 and event["bytes_freed"] > 100_000

    assert _cli("gc") == 0 and "removed 0 episode(s)" in capsys.readouterr().out  # nothing left to remove
    assert _cli("delete", episode_id, "--yes") == 0
    capsys.readouterr()
    assert _cli("audit", "--json", "--limit", "1") == 0
    (last,) = json.loads(capsys.readouterr().out)
    assert last["what"] == "delete" and last["episode"] == episode_id
    assert _cli("audit") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split("\t")[1:3] == ["delete", "library"] and "gc audio" in lines[1]


def test_the_server_applies_the_retention_on_its_own(settings, tmp_path):
    """rag.gc.start_daily, as ui.app.launch starts it: a real store, an episode row whose audio copy is a file."""
    import time

    from rag.audit import read
    from rag.gc import start_daily
    from rag.schema import Episode
    from rag.store import Store

    store = Store(settings)
    audio = tmp_path / "data" / "audio" / "e1.wav"
    audio.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(JFK if JFK.exists() else __file__, audio)
    store.put_episode(Episode(id="e1", title="old talk", source="talk.wav", status="ready", audio_path=str(audio)))
    assert start_daily(settings, lambda: store, first_after_s=0) is None  # no retention set: no thread

    s = settings.model_copy(update={"retention": settings.retention.model_copy(update={"audio_days": 0})})
    stop = start_daily(s, lambda: store, first_after_s=0, interval_s=3600)
    try:
        deadline = time.monotonic() + 30  # the audit line is written last
        while not [e for e in read(s) if e["what"] == "gc audio"] and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stop.set()
    assert [e["episode"] for e in read(s) if e["what"] == "gc audio"] == ["e1"]
    assert not audio.exists() and store.get_episode("e1").audio_path is None


def test_deleting_a_conversation_is_audited_without_its_words(settings):
    from rag.audit import audit_path, read
    from rag.chats import Chats
    from rag.store import Store

    chats = Chats(Store(settings))
    conv = chats.new("What did the surgeon say about the biopsy?")
    assert read(settings) == []  # keeping a conversation is not an event
    chats.delete(conv.id)
    (event,) = read(settings)
    assert (event["what"], event["role"], event["conversation"]) == ("delete", "conversation", conv.id)
    assert "biopsy" not in audit_path(settings).read_text()


def test_downloads_allowed_are_named(settings):
    from rag.privacy import statement

    s = settings.model_copy(update={"allow_downloads": True})
    assert next(r for r in statement(s) if r.role == "model downloads").where == "huggingface.co"
    assert "model downloads" not in {r.role for r in statement(settings)}


def test_the_log_reads_newest_first_and_rotates(settings, monkeypatch):
    import rag.audit as audit

    for i in range(30):
        audit.record(settings, "remote call", role="llm", n=i)
    assert [e["n"] for e in audit.read(settings, limit=3)] == [29, 28, 27]
    assert audit.audit_path(settings).stat().st_size > 2 * audit.LINE_BYTES  # so this reads only the end:
    assert [e["n"] for e in audit.read(settings, limit=1)] == [29]
    assert [e["n"] for e in audit.read(settings)] == list(range(29, -1, -1))
    monkeypatch.setattr(audit, "MAX_BYTES", 2000)  # past it: the log moves to audit.jsonl.1, a new one starts
    audit.record(settings, "delete", episode="e1")
    assert audit_files(settings) == ["audit.jsonl", "audit.jsonl.1"]
    assert [e.get("n", "e1") for e in audit.read(settings, limit=3)] == ["e1", 29, 28]  # across both files
    assert len(audit.read(settings)) == 31


def audit_files(settings) -> list[str]:
    from rag.audit import audit_path

    return sorted(p.name for p in audit_path(settings).parent.glob("audit.jsonl*"))
