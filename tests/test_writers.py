"""ingest.writers: each format's shape, and SRT / VTT / JSON / Markdown read back by ingest.transcripts."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from ingest.transcripts import load_transcript
from ingest.writers import WRITERS, get_writer
from rag.schema import Chapter, Episode, Segment, Transcript, Word


def sample() -> Transcript:
    words = [Word(start=0.0, end=0.4, word=" Hello", probability=0.9), Word(start=0.4, end=1.2346, word=" there.")]
    segs = [
        Segment(id=0, start=0.0, end=1.2346, text="Hello there.", words=words),
        Segment(id=1, start=1.5, end=59.9996, text="Fish & chips <cost> 5 --> 6 dollars, café ß 日本.", speaker="Ann"),
        Segment(id=2, start=60.0, end=61.0, text="   "),
        Segment(id=3, start=3599.999, end=3723.0041, text="Multi\nline\n\ntext."),
    ]
    return Transcript(segments=segs, language="en", model="whisper-tiny.en", duration=3723.0041)


def episode() -> Episode:
    return Episode(
        id="abc123", title="Talk: part 1/2", source="/music/talk.mp3", duration=3723.0, language="en",
        summary="A talk about fish.\n\nAnd chips.", description="Second half.", tags=["food", "uk"],
        chapters=[Chapter(title="Intro", start=0.0), Chapter(title="Prices", start=61.5)],
    )  # fmt: skip


def test_srt_shape():
    out = get_writer("srt").write(sample())
    assert out.startswith("1\n00:00:00,000 --> 00:00:01,235\nHello there.\n\n2\n00:00:01,500 --> 00:01:00,000\n")
    assert "3\n00:59:59,999 --> 01:02:03,004\nMulti line text.\n" in out
    assert "Ann" not in out  # SRT has no speakers
    assert out.count("\n\n") == 2  # three cues: the blank segment is left out


def test_vtt_shape():
    out = get_writer("vtt").write(sample())
    assert out.startswith("WEBVTT\n\n00:00:00.000 --> 00:00:01.235\nHello there.\n")
    assert "<v Ann>Fish &amp; chips &lt;cost&gt; 5 --&gt; 6 dollars" in out


def test_txt_shape():
    assert get_writer("txt").write(sample()) == (
        "Hello there.\nAnn: Fish & chips <cost> 5 --> 6 dollars, café ß 日本.\nMulti line text.\n"
    )


@pytest.mark.parametrize("fmt", ["srt", "vtt", "json"])
def test_round_trip(tmp_path, fmt):
    t = sample()
    path = get_writer(fmt).save(t, tmp_path / f"out.{fmt}")
    back = load_transcript(path)
    kept = [s for s in t.segments if s.text.strip()] if fmt != "json" else t.segments
    assert len(back.segments) == len(kept)
    for a, b in zip(kept, back.segments, strict=True):
        assert abs(a.start - b.start) <= 0.001 and abs(a.end - b.end) <= 0.001
        assert b.text == (" ".join(a.text.split()) if fmt != "json" else a.text.strip())
        if fmt != "srt":
            assert b.speaker == a.speaker
    if fmt == "json":  # everything else too, words included (the importer only trims text)
        assert back == t.model_copy(update={"segments": [s.model_copy(update={"text": s.text.strip()}) for s in kept]})


def test_json_is_whisper_compatible_and_carries_the_episode():
    data = json.loads(get_writer("json").write(sample(), episode()))
    assert data["text"].startswith("Hello there. Fish & chips")
    assert data["segments"][0]["words"][0] == {"start": 0.0, "end": 0.4, "word": " Hello", "probability": 0.9}
    assert data["episode"]["title"] == "Talk: part 1/2" and data["episode"]["chapters"][1]["start"] == 61.5
    assert data["language"] == "en" and data["has_times"] is True


def test_untimed_transcript(tmp_path):
    t = Transcript(segments=[Segment(id=0, start=0, end=0, text="A paragraph.")], has_times=False)
    with pytest.raises(ValueError, match="no times"):
        get_writer("srt").write(t)
    with pytest.raises(ValueError, match="no times"):
        get_writer("vtt").write(t)
    md = get_writer("md").write(t)
    assert "\nA paragraph.\n" in md and "**[" not in md
    back = load_transcript(get_writer("json").save(t, tmp_path / "t.json"))
    assert back.has_times is False and back.segments == t.segments


def test_markdown(tmp_path):
    md = get_writer("markdown").write(sample(), episode())
    assert md.startswith("# Talk: part 1/2\n\n- **Source:** /music/talk.mp3\n- **Duration:** 1:02:03\n")
    assert "- **Tags:** food, uk" in md and "Second half." in md
    assert "## Summary\n\nA talk about fish.\n\nAnd chips.\n" in md
    assert "## Chapters\n\n- **[00:00]** Intro\n- **[01:01]** Prices\n" in md
    assert "**[00:00]** Hello there.\n" in md
    assert "**[00:01]** **Ann:** Fish & chips" in md
    assert "**[59:59]** Multi line text." in md
    # our own Markdown reads back with whole-second times and speakers
    path = get_writer("md").save(sample(), tmp_path, episode())
    assert path.name == "Talk_ part 1_2.md"
    back = load_transcript(path)
    assert [(s.start, s.text, s.speaker) for s in back.segments] == [
        (0.0, "Hello there.", None),
        (1.0, "Fish & chips <cost> 5 --> 6 dollars, café ß 日本.", "Ann"),
        (3599.0, "Multi line text.", None),
    ]


def test_get_writer():
    assert set(WRITERS) == {"txt", "srt", "vtt", "json", "md", "rttm"}
    assert get_writer(".SRT").extension == "srt" and get_writer("text").extension == "txt"
    with pytest.raises(ValueError, match="unknown transcript format 'docx'"):
        get_writer("docx")


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs the ffmpeg binary")
@pytest.mark.parametrize(("ours", "theirs"), [("srt", "vtt"), ("vtt", "srt")])
def test_files_converted_by_ffmpeg_read_back(tmp_path, ours, theirs):
    """Another writer's output (ffmpeg's subtitle muxers) imports to the same cues."""
    t = sample()
    src = get_writer(ours).save(t, tmp_path / f"ours.{ours}")
    dst = tmp_path / f"theirs.{theirs}"
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-i", str(src), str(dst)], check=True)
    back = load_transcript(dst)
    kept = [s for s in t.segments if s.text.strip()]
    expected = [(round(s.start, 2), round(s.end, 2), " ".join(s.text.split())) for s in kept]
    if ours == "srt":  # SRT cannot escape "<": ffmpeg reads "<cost>" as an (unknown) tag and drops it
        expected[1] = (*expected[1][:2], expected[1][2].replace("<cost> ", ""))
    assert [(round(s.start, 2), round(s.end, 2), s.text) for s in back.segments] == expected
