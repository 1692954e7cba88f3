"""The web app's API through `gradio_client` (real models, real store), plus the app's pure helpers: link
rendering, upload staging."""

from __future__ import annotations

import html
from pathlib import Path
from urllib.parse import unquote

import pytest

from tests.conftest import ASR_DIR, free_port
from rag.schema import Episode, Segment
from ui import render
from ui.uploads import UploadError, cleanup, safe_name, stage_uploads

JFK = ASR_DIR / "wav16k" / "whisper_jfk.wav"


# -- pure helpers ------------------------------------------------------------------------------------------------
def _parse_href(href: str) -> tuple[str, float, str]:
    """What ui/player.js reads from a link: (audio url, seconds, episode id)."""
    src, _, frag = href.partition("#")
    params = dict(p.split("=", 1) for p in frag.split("&"))
    return src, float(params["t"]), unquote(params["ep"])


def test_play_link_carries_src_time_and_episode_in_href_and_data():
    link = render.play_link("go", src="/gradio_api/file=/lib/audio/ab%20c.wav", start=83.456, episode_id="ep1",
                            title='Say "hi"', open_episode=True)
    href = html.unescape(link.split('href="')[1].split('"')[0])
    assert _parse_href(href) == ("/gradio_api/file=/lib/audio/ab%20c.wav", 83.46, "ep1")
    assert 'class="play open"' in link
    assert 'data-start="83.46"' in link and 'data-episode="ep1"' in link
    assert 'data-title="Say &quot;hi&quot;"' in link


def test_audio_url_quotes_the_path():
    assert render.audio_url("/data/audio/a b#c.wav") == "/gradio_api/file=/data/audio/a%20b%23c.wav"
    assert render.audio_url(None) == ""


def test_answer_markdown_escapes_model_text_and_links_citations():
    from rag.schema import Citation

    c = Citation(episode_id="e1", title="Talk <1>", start=65.0, end=70.0, text="t")
    out = render.answer_markdown('<script>alert(1)</script> Yes. [Talk <1> @ 01:05]', [c],
                                 lambda _: "/gradio_api/file=/a.wav")
    assert "<script>" not in out and "&lt;script&gt;" in out
    assert out.count('class="play open cite"') == 1 and "Sources" not in out  # linked in the text, not repeated
    assert "[Talk &lt;1&gt; @ 01:05]" in out
    assert 'href="/gradio_api/file=/a.wav#t=65.00&amp;ep=e1"' in out
    assert 'class="play open cite"' in out
    # a citation the text does not show is listed under Sources, once
    other = Citation(episode_id="e2", title="Other", start=5.0, end=9.0, text="u")
    out = render.answer_markdown("Yes. [Talk <1> @ 01:05]", [c, other, other], lambda _: "/a.wav")
    assert out.count('class="play open cite"') == 2 and out.index("Sources") > out.index("01:05")
    assert out.split("Sources")[1].count("00:05") == 1 and "01:05" not in out.split("Sources")[1]
    # a moment cited twice is one link, never a link inside a link
    out = render.answer_markdown("Yes [Talk <1> @ 01:05]. Again [Talk <1> @ 01:05].", [c, c], lambda _: "/a.wav")
    assert out.count('class="play open cite"') == 2 and out.count("<a ") == 2 and "Sources" not in out


def test_transcript_lines_seek_to_their_segment_in_paragraphs():
    ep = Episode(id="e1", title="T", source="s", status="ready")
    segs = [Segment(id=0, start=0.0, end=2.0, text="Hello there."), Segment(id=1, start=2.1, end=4.0, text="A <b>"),
            Segment(id=2, start=4.1, end=6.0, text="and more."), Segment(id=3, start=9.0, end=11.0, text="Later on.",
                                                                         speaker="Ann")]
    out = render.transcript_html(ep, segs, "/gradio_api/file=/a.wav", edited={2})
    assert out.count('class="play seg"') == 3 and out.count('class="play seg edited"') == 1
    assert 'data-start="2.10"' in out and 'data-end="4.00"' in out and "A &lt;b&gt;" in out
    # a paragraph per pause after a sentence (and per speaker), its start time shown once
    assert out.count('<p class="para"') == 2 and "00:00" in out and "00:09" in out and "00:02" not in out
    assert 'data-speaker="Ann"' in out and out.count('class="revert"') == 1
    assert [len(p) for p in render.paragraphs(segs)] == [3, 1]
    # word times: one span per word, for following the audio word by word (not once the words no longer spell
    # the line, e.g. after an edit)
    from rag.schema import Word

    timed = Segment(id=0, start=0.0, end=1.0, text="Hello there.",
                    words=[Word(start=0.0, end=0.4, word="Hello"), Word(start=0.5, end=1.0, word="there.")])
    out = render.transcript_html(ep, [timed], "")
    assert '<span class="w" data-t="0.00">Hello</span> <span class="w" data-t="0.50">there.</span>' in out
    assert 'class="w"' not in render.transcript_html(ep, [timed.model_copy(update={"text": "Hi there."})], "")


def test_episode_rows_and_choices():
    a = Episode(id="a" * 16, title="Zed", source="s", duration=75, status="ready", tags=["x", "y"])
    b = Episode(id="b" * 16, title="alpha", source="s", status="processing")
    rows = render.episode_rows([a, b])
    assert [r[0] for r in rows] == ["alpha", "Zed"]  # newest first
    assert rows[1][1] == "01:15" and rows[1][4] == "x, y" and rows[1][5] == "ready"
    assert [v for _, v in render.episode_choices([a, b])] == ["b" * 16, "a" * 16]  # by title


@pytest.mark.parametrize("name, expected", [
    ("../../etc/passwd", "passwd"),
    ("..\\..\\boot.ini", "boot.ini"),
    (".bashrc", "upload.bashrc"),
    ("a\x00b\nc.wav", "abc.wav"),
    ("Café — épisode 1.mp3", "Café _ épisode 1.mp3"),
    ("", "upload"),
    ("x" * 300 + ".flac", "x" * 115 + ".flac"),
])
def test_safe_name(name, expected):
    assert safe_name(name) == expected


def test_stage_uploads_lands_inside_the_library_and_pairs_companions(settings, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    (src / "talk.srt").write_text("1\n00:00:00,000 --> 00:00:01,000\nhi\n")
    (src / "talk.mp3").write_bytes(b"ID3fake")
    (src / "other.wav").write_bytes(b"RIFFfake")
    staged = stage_uploads([src / "talk.srt", src / "talk.mp3", src / "other.wav"], settings,
                           ["talk.srt", "talk.mp3", "../../other.wav"])
    root = (Path(settings.data_dir) / "uploads").resolve()
    paths = [p for _, p in staged]
    assert all(p.resolve().parent.parent == root for p in paths)
    assert paths[0].parent == paths[1].parent != paths[2].parent  # companions share a folder
    assert [p.name for p in paths] == ["talk.srt", "talk.mp3", "other.wav"]
    assert paths[1].read_bytes() == b"ID3fake"
    cleanup(paths, settings)
    assert not any(p.exists() for p in paths) and root.is_dir()


def test_stage_uploads_refuses_files_over_the_limit(settings, tmp_path):
    big = tmp_path / "big.wav"
    with open(big, "wb") as f:
        f.truncate(2 * 1024 * 1024)
    small = settings.model_copy(update={"max_upload_mb": 1})
    with pytest.raises(UploadError, match="upload limit of 1 MB"):
        stage_uploads([big], small)
    assert not (Path(settings.data_dir) / "uploads").exists() or not any((Path(settings.data_dir) / "uploads").iterdir())


# -- the API, end to end -------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_api_ingests_a_file_and_answers_with_a_citation(app_url, settings):
    from gradio_client import Client, handle_file

    if not JFK.exists():
        pytest.skip(f"shared audio not found at {JFK}")
    client = Client(app_url, verbose=False)

    results = client.predict(files=[handle_file(str(JFK))], enhance=False, api_name="/ingest")
    assert len(results) == 1 and results[0]["status"] == "ingested", results
    episode_id = results[0]["episode_id"]

    data = Path(settings.data_dir).resolve()
    episodes = client.predict(api_name="/list_episodes")
    assert [(e["id"], e["status"], e["title"]) for e in episodes] == [(episode_id, "ready", "whisper jfk")]
    # The upload went through Gradio's cache inside the library and the staging copy is gone after ingest;
    # the library keeps its own hash-named audio copy.
    assert any(p.name == JFK.name for p in (data / ".gradio").rglob("*"))
    assert not any(p.is_file() for p in (data / "uploads").rglob("*"))
    assert (data / "audio" / f"{episode_id}.wav").is_file()

    job = client.submit("What does the speaker ask Americans to do?", "", [], api_name="/ask")
    final = job.result()
    updates = job.outputs()
    assert final["done"] is True and updates[-1] == final
    assert all(not u["done"] for u in updates[:-1]) and len(updates) >= 2  # streamed before the final one
    assert not final["abstained"], final
    first = final["citations"][0]
    assert first["episode_id"] == episode_id and first["title"] == "whisper jfk"
    assert first["start"] <= 2.0, first
    assert "country" in final["answer"].lower()

    # Several callers at once are queued, not refused: all of them get their answer.
    jobs = [Client(app_url, verbose=False).submit(q, "", [], api_name="/ask")
            for q in ("What does the speaker ask Americans to do?", "What about the country?", "fellow Americans")]
    assert all(j.result()["done"] and j.result()["citations"] for j in jobs)

    hits = client.predict("ask not what your country can do", "", 5, api_name="/search")
    assert hits and hits[0]["episode_id"] == episode_id and hits[0]["start"] < 11.0

    srt = client.predict(episode_id, "srt", api_name="/export")
    assert "-->" in srt and "country" in srt.lower()

    meta = client.predict(episode_id, api_name="/summarize")
    assert meta["summary"].strip() and meta["title"].strip()
    assert all(0 <= c["start"] <= 11.1 for c in meta["chapters"]), meta["chapters"]

    one = client.predict(episode_id[:8], api_name="/get_episode")
    assert one["id"] == episode_id and one["segments"] and one["has_audio"]
    assert one["summary"] == meta["summary"]  # stored on the episode

    assert client.predict(episode_id, api_name="/delete_episode")["deleted"] == episode_id
    assert client.predict(api_name="/list_episodes") == []
    assert not (data / "audio" / f"{episode_id}.wav").exists()


@pytest.mark.slow
def test_api_errors_are_readable(app_url):
    from gradio_client import Client

    client = Client(app_url, verbose=False)
    with pytest.raises(Exception, match="No episode matches 'nope'"):
        client.predict("nope", api_name="/get_episode")
    with pytest.raises(Exception, match="Type a question first"):
        client.predict("  ", "", [], api_name="/ask")
    with pytest.raises(Exception, match="'whisper-tiny.en' is an asr model, not an LLM"):
        client.predict("whisper-tiny.en", api_name="/set_llm")


@pytest.mark.slow
def test_api_models_and_llm_switch(app_url, settings):
    from gradio_client import Client

    client = Client(app_url, verbose=False)
    info = client.predict(api_name="/models")
    roles = {r["role"]: r for r in info["roles"]}
    assert roles["llm"]["model"] == settings.llm.model and roles["asr"]["model"] == settings.asr.model
    from rag.answer import answer_model_name

    assert roles["llm (answers)"]["model"] == answer_model_name(settings)
    assert roles["llm (summaries)"]["model"] == "gemma-3-270m"  # rag.llm.TASK_PACKS while llm.model is the default
    from rag.llm import local_backend

    assert roles["llm (answers)"]["backend"] == f"auto ({local_backend(settings, 'gemma-3-270m')})"  # what runs it
    assert {p["name"] for p in info["packs"]} >= {settings.llm.model, settings.asr.model, settings.embed.model}
    other = "gemma-3-270m" if settings.llm.model != "gemma-3-270m" else "smollm2-135m-instruct"
    from rag.llm import clear_cache

    clear_cache()  # "loaded" is this process's model cache, which earlier tests in it may have filled
    assert client.predict(other, api_name="/set_llm") == {"llm": other}
    roles = {r["role"]: r for r in client.predict(api_name="/models")["roles"]}
    assert roles["llm"]["model"] == other and roles["llm"]["loaded"] is False
    assert roles["llm (answers)"]["model"] == roles["llm (summaries)"]["model"] == other  # it does every task


def test_uploads_over_the_limit_are_refused(settings, tmp_path):
    """Gradio's upload route enforces settings.max_upload_mb before any of our code runs."""
    from gradio_client import Client, handle_file

    from ui.app import build_app, launch

    big = tmp_path / "big.wav"
    with open(big, "wb") as f:
        f.truncate(2 * 1024 * 1024)
    demo = build_app(settings.model_copy(update={"max_upload_mb": 1}))
    _, url, _ = launch(demo, port=free_port(), prevent_thread_lock=True, quiet=True)
    try:
        client = Client(url, verbose=False)
        with pytest.raises(Exception, match="(?i)size|large|413"):
            client.predict(files=[handle_file(str(big))], enhance=False, api_name="/ingest")
        assert not any(p.name == "big.wav" for p in Path(settings.data_dir).rglob("*"))
    finally:
        demo.close()


def test_bench_tab_shows_table_chart_and_csv_of_a_run(settings):
    import csv

    from ui import bench_tab
    from ui.backend import Backend

    mod = bench_tab.bench_module()
    if mod is None:
        pytest.skip("rag.bench is not in this build")
    rows = mod.run_bench(["search"], quick=True, settings=settings, search_sizes=(300,))
    run_id = rows[0]["run_id"]
    backend = Backend(settings)
    choices = bench_tab.run_choices(backend)
    assert choices[0][1] == run_id and "search" in choices[0][0]
    table, chart, csv_path, status = bench_tab.show_run(backend, run_id)
    assert len(table["value"]) == len(rows) and table["headers"] == bench_tab.TABLE_COLUMNS
    assert {r[0] for r in table["value"]} == {"search"}
    assert chart and Path(chart).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with open(csv_path, newline="") as f:
        assert [r["run_id"] for r in csv.DictReader(f)] == [run_id] * len(rows)
    assert run_id in status
