"""Issue 7: the `openai` ASR backend against a real transcription server, and Voxtral audio Q&A.

The server is the real `faster-whisper-server` (PyPI, 0.0.3) started by this module on 127.0.0.1, serving the
whisper-tiny.en pack's `ct2/` folder (int8 on CPU). It answers `verbose_json` with segment times but no words,
and reads the model from the `model_name` form field — both are exercised here.

Two small fakes stand in for things that cannot run here, and say so where they are used: an overloaded or
strict server (503s, 400 on unknown form fields) that a real server cannot be made to produce on demand, and a
Voxtral vLLM server (needs a GPU and weights this machine does not have) that only records what it is sent.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import subprocess
import sys
import time
import urllib.request
import wave
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import ASR_DIR, free_port, normalize_text, stop_process, wer
from tests.fakes import JsonServer, chat_reply

SERVER_MODEL = "whisper-tiny.en"  # the name the server's config gives the pack (sent as model_name)
JFK = ASR_DIR / "wav16k" / "whisper_jfk.wav"
LEOPARD = ASR_DIR / "wav16k" / "leopard_test_en.wav"
CHEETAH = ASR_DIR / "wav16k" / "cheetah_test_en.wav"
CHEETAH_NORM = ASR_DIR / "wav16k" / "cheetah_test_en_norm.wav"



def reference(asr_manifest, path: Path) -> str:
    rel = str(path.relative_to(ASR_DIR))
    return next(u["text"] for u in asr_manifest["utterances"] if u["file"] == rel)


# -- the real server -------------------------------------------------------------------------------------------
class Server:
    def __init__(self, ct2: Path, tmp: Path):
        exe = Path(sys.executable).parent / "faster-whisper-server"
        if not exe.exists():
            pytest.skip("faster-whisper-server is not installed (pip install -e '.[test]')")
        config = tmp / "fws.yaml"
        config.write_text(
            "models:\n"
            f"  - name: {SERVER_MODEL}\n"
            f"    path: {ct2}\n"
            "    model_options: {device: cpu, compute_type: int8, cpu_threads: 2}\n"
            "    transcribe_options: {beam_size: 5, vad_filter: false}\n"
        )
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.log = open(tmp / "fws.log", "wb")
        env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
        env["HF_HUB_OFFLINE"] = "1"
        self.proc = subprocess.Popen([str(exe), "--config", str(config), "--host", "127.0.0.1",
                                      "--port", str(self.port)], stdout=self.log, stderr=subprocess.STDOUT,
                                     env=env, start_new_session=True)
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"faster-whisper-server did not start: {(tmp / 'fws.log').read_text()[-2000:]}")
            time.sleep(0.3)

    def stop(self) -> None:
        stop_process(self.proc)
        self.log.close()


def remote_settings(tmp: Path, models_dir: Path, url: str, **asr):
    from rag.settings import Settings

    return Settings(data_dir=str(tmp / "data"), models_dir=str(models_dir),
                    asr={"model": "whisper-tiny.en", "backend": "openai", "base_url": url,
                         "remote_model": SERVER_MODEL, **asr})


@pytest.fixture(scope="module")
def server(pack, tmp_path_factory):
    srv = Server(pack("whisper-tiny.en") / "ct2", tmp_path_factory.mktemp("fws"))
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def remote_library(server, pack, models_dir, tmp_path_factory):
    """jfk + leopard ingested through the server (the real pipeline: decode → server → chunk → embed → LanceDB)."""
    from ingest.pipeline import Item, Pipeline
    from rag.settings import set_settings

    pack("all-minilm-l6-v2")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AUDIORAG_CONFIG", str(tmp_path_factory.getbasetemp() / "none.toml"))
        settings = remote_settings(tmp_path_factory.mktemp("remote"), models_dir, server.url)
        set_settings(settings)
        pipe = Pipeline(settings)
        results = {p.name: pipe.ingest_item(Item(p, "audio", audio=p)) for p in (JFK, LEOPARD)}
        yield settings, pipe.store, results
        set_settings(None)


# -- the remote backend, end to end ----------------------------------------------------------------------------
@pytest.mark.slow
def test_remote_segments_index_and_cite(remote_library, asr_manifest):
    from rag.answer import ask_sync
    from rag.search import search

    settings, store, results = remote_library
    assert {r.status for r in results.values()} == {"ingested"}, [r.reason for r in results.values()]
    jfk_id = results[JFK.name].episode_id
    ep = store.get_episode(jfk_id)
    assert ep.status == "ready" and ep.asr_model == f"openai:{SERVER_MODEL}"
    segments = store.segments(jfk_id)
    text = " ".join(s.text for s in segments)
    assert wer(reference(asr_manifest, JFK), text) < 0.2, text
    assert segments[0].start < 0.5 and segments[-1].end <= ep.duration + 1e-6
    assert all(a.start <= b.start for a, b in zip(segments, segments[1:]))
    assert not any(s.words for s in segments)  # this server gives no words; none were made up

    res = search("my fellow Americans", k=3, settings=settings, store=store)
    assert res.passages[0].episode_id == jfk_id and res.passages[0].start < 1.0
    answer = ask_sync("What should you ask instead of what your country can do for you?", mode="extractive",
                      settings=settings, store=store)
    assert not answer.abstained and answer.citations[0].episode_id == jfk_id
    assert answer.citations[0].start in {s.start for s in segments}  # cited at a time the server gave
    leopard = store.get_episode(results[LEOPARD.name].episode_id)
    hit = search("the apostle of the middle classes", k=1, settings=settings, store=store).passages[0]
    assert hit.episode_id == leopard.id and hit.start < 1.0


@pytest.mark.slow
def test_no_word_times_warns_once(server, models_dir, tmp_path, capsys):
    from ingest.asr.openai import OpenAIWhisper
    from ingest.decode import decode

    asr = OpenAIWhisper(remote_settings(tmp_path, models_dir, server.url))  # a fresh one, not get_asr's cached
    first = asr.transcribe(decode(CHEETAH))
    second = asr.transcribe(decode(CHEETAH))
    assert first.segments and not first.has_word_times and not second.has_word_times
    assert capsys.readouterr().err.count("without word times") == 1


@pytest.mark.slow
def test_long_audio_split_on_silence_and_stitched(server, models_dir, tmp_path, asr_manifest):
    """75 s of the LJSpeech long-form file, sent as pieces of at most 30 s: each reference sentence's first
    words are in the segment whose time span holds the sentence's true start (so every piece's times were
    shifted back by where it starts)."""
    from ingest.asr import get_asr
    from ingest.asr.openai import plan_pieces
    from ingest.decode import decode

    long_form = asr_manifest["long_form"][0]
    audio = decode(ASR_DIR / long_form["file"], max_seconds=None)[: 75 * 16000]
    asr = get_asr(remote_settings(tmp_path, models_dir, server.url, max_piece_s=30))
    pieces = plan_pieces(audio, asr.max_samples)
    assert len(pieces) >= 3 and pieces[0][0] == 0 and pieces[-1][1] == len(audio)
    transcript = asr.transcribe(audio)
    assert transcript.model == f"openai:{SERVER_MODEL}"
    starts = [s.start for s in transcript.segments]
    assert all(a <= b for a, b in zip(starts, starts[1:])) and transcript.segments[-1].end <= 75.0
    inside = [r for r in long_form["segments"] if r["end_s"] <= 74.0]
    assert len(inside) >= 4
    for ref in inside:
        first = " ".join(normalize_text(ref["text"]).split()[:3])
        holding = [s for s in transcript.segments if s.start - 1.0 <= ref["start_s"] <= s.end + 1.0]
        assert any(first in normalize_text(s.text) for s in holding), (ref, [(s.start, s.text) for s in holding])
    assert wer(" ".join(r["text"] for r in inside),
               " ".join(s.text for s in transcript.segments if s.start < inside[-1]["end_s"] - 0.5)) < 0.25


@pytest.mark.slow
def test_unknown_remote_model_fails_that_file_clearly(server, models_dir, tmp_path):
    """The server reads `model_name`: a name it does not serve is refused (400), the file fails with one line."""
    from ingest.pipeline import Item, Pipeline

    settings = remote_settings(tmp_path, models_dir, server.url, remote_model="no-such-model", fallback=True)
    res = Pipeline(settings).ingest_item(Item(CHEETAH, "audio", audio=CHEETAH))
    assert res.status == "failed"
    assert "HTTP 400" in res.reason and "no-such-model" in res.reason and "\n" not in res.reason


@pytest.mark.slow
def test_server_stopped_mid_batch_falls_back_locally(pack, models_dir, tmp_path, asr_manifest, capsys, caplog):
    """SIGTERM the server once the first file is stored: the others are transcribed locally, with a warning
    for each, and every episode ends up ready."""
    from ingest.pipeline import Item, Pipeline

    pack("all-minilm-l6-v2")
    server = Server(pack("whisper-tiny.en") / "ct2", tmp_path)
    try:
        settings = remote_settings(tmp_path, models_dir, server.url, retries=2)
        pipe = Pipeline(settings)
        files = [LEOPARD, CHEETAH, CHEETAH_NORM]
        results = []
        for i, path in enumerate(files):
            def on_stage(stage, frac, first=(i == 0)):
                if first and stage == "done":
                    server.stop()

            with caplog.at_level(logging.WARNING, logger="ingest.asr.openai"):
                results.append(pipe.ingest_item(Item(path, "audio", audio=path), on_stage=on_stage))
        assert server.proc.poll() is not None
    finally:
        server.stop()
    assert [r.status for r in results] == ["ingested"] * 3, [r.reason for r in results]
    episodes = [pipe.store.get_episode(r.episode_id) for r in results]
    assert all(e.status == "ready" for e in episodes)
    assert [e.asr_model for e in episodes] == [f"openai:{SERVER_MODEL}", "whisper-tiny.en", "whisper-tiny.en"]
    fell_back = (f"transcribed on this machine (ctranslate2 'whisper-tiny.en'): the transcription server "
                 f"{server.url} was unreachable")
    assert [r.reason for r in results] == [None, fell_back, fell_back]
    from ui.render import progress_html  # the web app's ingest table: the row's reason under its status

    table = progress_html([{"name": p.name, "status": r.status, "reason": r.reason, "fraction": 1.0}
                           for p, r in zip(files, results)])
    assert table.count("transcribed on this machine") == 2 and LEOPARD.name in table
    err = capsys.readouterr().err
    assert err.count("is unreachable") == 2 and "transcribing this file locally" in err
    assert sum("is unreachable" in r.getMessage() for r in caplog.records) == 2
    for path, ep in zip(files[1:], episodes[1:]):
        segments = pipe.store.segments(ep.id)
        assert all(s.words for s in segments)  # the local backend's word times
        spoken = " ".join(w.word for s in segments for w in s.words)
        assert wer(reference(asr_manifest, path), spoken) < 0.5, spoken


# -- pure helpers ----------------------------------------------------------------------------------------------
def test_wav_bytes_round_trip():
    from ingest.asr.openai import wav_bytes

    audio = np.sin(np.linspace(0, 200 * np.pi, 16000)).astype(np.float32) * 0.5
    with wave.open(io.BytesIO(wav_bytes(audio)), "rb") as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()) == (1, 2, 16000, 16000)
        back = np.frombuffer(w.readframes(16000), dtype="<i2") / 32767.0
    assert np.max(np.abs(back - audio)) < 1e-4


def test_piece_limit_from_upload_size():
    from ingest.asr.openai import max_piece_samples
    from rag.models import ModelError

    assert max_piece_samples(25, 10_000) == (25_000_000 - 65_536) // 2  # ~13 min of 16-bit 16 kHz
    assert max_piece_samples(25, 60) == 60 * 16000
    with pytest.raises(ModelError, match="less than one second"):
        max_piece_samples(0.01, 600)


def test_pieces_cut_inside_pauses():
    from ingest.asr.openai import plan_pieces

    sr = 16000
    rng = np.random.default_rng(0)
    speech = lambda s: (rng.standard_normal(int(s * sr)) * 0.3).astype(np.float32)  # noqa: E731
    pause = lambda s: (rng.standard_normal(int(s * sr)) * 1e-4).astype(np.float32)  # noqa: E731
    # pauses at 8–9 s, 17–18 s and 27–28 s; pieces may be at most 12 s
    audio = np.concatenate([speech(8), pause(1), speech(8), pause(1), speech(9), pause(1), speech(6)])
    pieces = plan_pieces(audio, 12 * sr, sr)
    assert pieces[0][0] == 0 and pieces[-1][1] == len(audio)
    assert all(a[1] == b[0] for a, b in zip(pieces, pieces[1:]))
    assert all(e - s <= 12 * sr for s, e in pieces)
    cuts = [e / sr for _, e in pieces[:-1]]
    assert len(cuts) == 3 and all(any(p < c < p + 1 for p in (8, 17, 27)) for c in cuts), cuts
    # no pause at all: cut at the limit's quietest frame, still under the limit
    flat = plan_pieces(speech(30), 12 * sr, sr)
    assert len(flat) == 3 and all(e - s <= 12 * sr for s, e in flat)
    assert plan_pieces(speech(5), 12 * sr, sr) == [(0, 5 * sr)]


def test_parse_segments_with_and_without_words():
    from ingest.asr.openai import parse_response

    # faster-whisper-server / vLLM Whisper: segments, no words
    segs, has_words, lang = parse_response({"language": "en", "text": " Hello there. Bye.", "segments": [
        {"start": 0.0, "end": 1.5, "text": " Hello there."}, {"start": 1.5, "end": 9.0, "text": " Bye."}]},
        offset=60.0, limit=68.0)
    assert [(s.start, s.end, s.text) for s in segs] == [(60.0, 61.5, "Hello there."), (61.5, 68.0, "Bye.")]
    assert not has_words and lang == "en" and not any(s.words for s in segs)
    # OpenAI style: words as a top-level list, handed to the segment their middle falls in
    segs, has_words, _ = parse_response({"text": "Hello there. Bye.", "segments": [
        {"start": 0.0, "end": 1.5, "text": "Hello there."}, {"start": 1.6, "end": 2.5, "text": "Bye."}],
        "words": [{"word": "Hello", "start": 0.1, "end": 0.5}, {"word": "there.", "start": 0.6, "end": 1.4},
                  {"word": "Bye.", "start": 1.7, "end": 2.2}]}, offset=10.0)
    assert has_words and [[w.word for w in s.words] for s in segs] == [["Hello", "there."], ["Bye."]]
    assert segs[1].words[0].start == pytest.approx(11.7)
    # words only (whisperlivekit-like without segments): one segment, resegment() cuts it later
    segs, has_words, _ = parse_response({"text": "a b", "words": [{"word": " a", "start": 0.2, "end": 0.4},
                                                                   {"word": " b", "start": 0.5, "end": 0.9}]})
    assert has_words and len(segs) == 1 and (segs[0].start, segs[0].end) == (0.2, 0.9)
    # silence: nothing, no error
    assert parse_response({"text": "", "segments": []})[0] == []


def test_text_without_times_is_refused():
    from ingest.asr.openai import AsrServerError, parse_response

    with pytest.raises(AsrServerError, match="without timestamps; refusing"):
        parse_response({"text": "Voxtral style: text only."})
    with pytest.raises(AsrServerError, match="without timestamps"):
        parse_response({"text": "x", "segments": [{"text": "x"}]})


# -- a fake server for what a real one cannot be made to do (tests/fakes.py) --------------------------------------
@pytest.fixture
def fake_server():
    servers: list[JsonServer] = []

    def start(script):
        servers.append(JsonServer(script))
        return servers[-1], servers[-1].url

    yield start
    for srv in servers:
        srv.close()


VERBOSE = {"language": "en", "text": "Hello.", "segments": [{"start": 0.0, "end": 0.8, "text": "Hello."}],
           "words": [{"word": "Hello.", "start": 0.1, "end": 0.7}]}


def test_transient_errors_are_retried_and_form_fields_sent(fake_server, settings):
    """FAKE server (an overloaded one cannot be produced on demand): 503, 503, then a real-shaped answer. The
    backend retries with backoff and sends model, model_name and both timestamp granularities."""
    from ingest.asr.openai import OpenAIWhisper

    answers = iter([(503, {"error": "busy"}), (503, {"error": "busy"}), (200, VERBOSE)])
    srv, url = fake_server(lambda body: next(answers))
    asr = OpenAIWhisper(settings.model_copy(update={"asr": settings.asr.model_copy(update={
        "backend": "openai", "base_url": url, "remote_model": "m1", "retries": 3})}))
    t = asr.transcribe(np.zeros(16000, dtype=np.float32) + 0.01)
    assert len(srv.requests) == 3 and all(path == "/v1/audio/transcriptions" for path, _ in srv.requests)
    body = srv.requests[-1][1]
    for field in (b'name="model"\r\n\r\nm1', b'name="model_name"\r\n\r\nm1', b'name="response_format"\r\n\r\n'
                  b'verbose_json', b'name="timestamp_granularities[]"\r\n\r\nsegment',
                  b'name="timestamp_granularities[]"\r\n\r\nword', b"RIFF"):
        assert field in body
    assert t.has_word_times and t.segments[0].words[0].word == "Hello." and t.model == "openai:m1"


def test_strict_server_gets_the_plain_openai_form(fake_server, settings):
    """FAKE server standing in for a strict OpenAI-style API that rejects unknown form fields (400)."""
    from ingest.asr.openai import OpenAIWhisper

    srv, url = fake_server(lambda body: (400, {"error": {"message": "Unrecognized request argument: model_name"}})
                           if b'name="model_name"' in body else (200, VERBOSE))
    asr = OpenAIWhisper(settings.model_copy(update={"asr": settings.asr.model_copy(update={
        "backend": "openai", "base_url": url + "/v1", "remote_model": "whisper-1"})}))
    assert asr.transcribe(np.full(8000, 0.01, dtype=np.float32)).segments[0].text == "Hello."
    assert asr.transcribe(np.full(8000, 0.01, dtype=np.float32)).segments
    assert len(srv.requests) == 3  # refused once, then plain for the rest of the session


def test_server_answering_text_only_fails_the_file_without_alignment(fake_server, settings):
    """FAKE server answering like vLLM serving Voxtral for transcription (text only, no times): with asr.align
    off the file fails with one line instead of being indexed with invented times (no local fallback hides it)."""
    from ingest.asr.openai import AsrServerError, OpenAIWhisper

    _, url = fake_server(lambda body: (200, {"text": "Hello there."}))
    asr = OpenAIWhisper(settings.model_copy(update={"asr": settings.asr.model_copy(update={
        "backend": "openai", "base_url": url, "align": False})}))
    with pytest.raises(AsrServerError, match="refusing to index"):
        asr.transcribe(np.full(8000, 0.01, dtype=np.float32))


def test_align_text_times_close_spellings_and_never_invents_one():
    from ingest.align import align_text
    from rag.schema import Word

    heard = [Word(start=float(i), end=i + 0.5, word=w) for i, w in enumerate(["Rolo", "led", "the", "Normans."])]
    found = align_text("Rollo led the brave Normans.", heard)
    assert [(w.word, w.start) for w in found.words] == [("Rollo", 0.0), ("led", 1.0), ("the brave", 2.0),
                                                        ("Normans.", 3.0)]
    assert (found.matched, found.total, found.unaligned) == (4, 5, 1)
    lead = align_text("So Rollo led", heard[:2])  # an unheard first word goes with the next aligned one
    assert [(w.word, w.start) for w in lead.words] == [("So Rollo", 0.0), ("led", 1.0)]
    assert align_text("nothing like it", heard).matched == 0


@pytest.mark.slow
def test_text_without_times_is_aligned_to_the_local_whisper(fake_server, pack, models_dir, tmp_path,
                                                          asr_manifest):
    """FAKE Voxtral transcription (vLLM cannot run here): the server answers the long-form reading's exact text
    and no times. The local whisper-tiny.en times it: each sentence starts within ±0.5 s of its true start."""
    from ingest.pipeline import Item, Pipeline

    pack("all-minilm-l6-v2")
    pack("whisper-tiny.en")
    long_form = asr_manifest["long_form"][0]
    _, url = fake_server(lambda body: (200, {"text": long_form["text"]}))
    settings = remote_settings(tmp_path, models_dir, url + "/v1")
    path = ASR_DIR / long_form["file"]
    res = Pipeline(settings).ingest_item(Item(path, "audio", audio=path))
    assert res.status == "ingested", res.reason
    assert "times from the local Whisper ('whisper-tiny.en')" in res.reason
    words = [w for s in Pipeline(settings).store.segments(res.episode_id) for w in s.words]
    tokens = [(t, w.start) for w in words for t in w.word.split()]  # a joined word is cited at its moment
    assert [t for t, _ in tokens] == long_form["text"].split()  # the server's words, every one, in order
    starts, at = [], 0
    for ref in long_form["segments"]:  # the text is the sentences joined: sentence k starts at a known token
        starts.append((ref["id"], round(tokens[at][1] - ref["start_s"], 2)))
        at += len(ref["text"].split())
    off = [(i, d) for i, d in starts if abs(d) > 0.5]  # Whisper tiny's own word times are off by that at times
    assert len(off) <= 2 and all(abs(d) <= 1.0 for _, d in starts), starts


# -- Voxtral audio Q&A -----------------------------------------------------------------------------------------
def test_audio_window():
    from rag.voxtral import audio_window

    assert audio_window(600, 300, 1800) == (0.0, 600)
    assert audio_window(7200, 3600, 1800) == (2700, 4500)
    assert audio_window(7200, 100, 1800) == (0.0, 1800)
    assert audio_window(7200, 7100, 1800) == (5400, 7200)


@pytest.mark.slow
def test_ask_audio_sends_the_episode_to_a_voxtral_server(remote_library, fake_server, monkeypatch, capsys):
    """FAKE Voxtral server (vLLM + Voxtral needs a GPU and weights that are not here; docs/scaling.md has the
    real command): it records the chat-completions request and answers like vLLM. `audiorag ask --audio`
    sends the episode's own audio as base64 WAV `input_audio` beside the question, and cites what it heard."""
    from rag.cli import main

    settings, store, results = remote_library
    reply = chat_reply("To ask what you can do for your country.", "mistralai/Voxtral-Mini-3B-2507")
    srv, url = fake_server(lambda body: (200, reply))
    for k, v in {"AUDIORAG_DATA_DIR": settings.data_dir, "AUDIORAG_MODELS_DIR": settings.models_dir,
                 "AUDIORAG_LLM__BASE_URL": url + "/v1",
                 "AUDIORAG_LLM__REMOTE_MODEL": "mistralai/Voxtral-Mini-3B-2507"}.items():
        monkeypatch.setenv(k, v)
    jfk_id = results[JFK.name].episode_id
    assert main(["ask", "--audio", jfk_id[:10], "What does he ask the audience to do?", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["answer"] == "To ask what you can do for your country." and not out["abstained"]
    assert out["citations"][0]["episode_id"] == jfk_id and out["citations"][0]["start"] == 0.0
    assert "country" in out["citations"][0]["text"]

    (path, body), = srv.requests
    assert path == "/v1/chat/completions"
    req = json.loads(body)
    assert req["model"] == "mistralai/Voxtral-Mini-3B-2507"
    audio_part, text_part = req["messages"][0]["content"]
    assert audio_part["type"] == "input_audio" and audio_part["input_audio"]["format"] == "wav"
    assert "What does he ask the audience to do?" in text_part["text"]
    with wave.open(io.BytesIO(base64.b64decode(audio_part["input_audio"]["data"])), "rb") as w:
        assert (w.getnchannels(), w.getframerate()) == (1, 16000)
        assert abs(w.getnframes() / 16000 - store.get_episode(jfk_id).duration) < 0.05

    monkeypatch.delenv("AUDIORAG_LLM__BASE_URL")
    assert main(["ask", "--audio", jfk_id[:10], "anything?"]) == 1
    assert "needs a Voxtral server" in capsys.readouterr().err
