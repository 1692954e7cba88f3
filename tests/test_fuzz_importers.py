"""Issue 18: property-based fuzzing (hypothesis) of the SRT, WebVTT, Whisper-JSON and text importers. Whatever the
bytes, `load_transcript` either returns cues that pass the one validator (finite, non-negative, ordered times,
text present) or raises our one-line TranscriptError naming the file — never another exception."""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ingest.transcripts import TranscriptError, load_transcript
from rag.schema import validate_transcript

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
_DIR = Path(tempfile.mkdtemp(prefix="audiorag-fuzz-"))


def check_import(data: bytes | str, ext: str) -> None:
    path = _DIR / f"fuzz{ext}"
    path.write_bytes(data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data)
    try:
        t = load_transcript(path)
    except TranscriptError as exc:
        msg = str(exc)
        assert msg.startswith(f"{path.name}: ") and "\n" not in msg and len(msg) < 500, msg
        return
    assert t.text.strip()
    assert validate_transcript(t).segments == t.segments  # what an import returns already passes the door
    if t.has_times:
        assert all(math.isfinite(x) and x >= 0 for s in t.segments for x in (s.start, s.end))
        assert all(a.start <= b.start for a, b in zip(t.segments, t.segments[1:]))


# -- strategies -----------------------------------------------------------------------------------------------
def _stamp(sep: str) -> st.SearchStrategy[str]:
    n = st.integers(min_value=0, max_value=99)
    ok = st.builds(lambda h, m, s, ms: f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}", n, n, n,
                   st.integers(min_value=0, max_value=999))
    short = st.builds(lambda m, s, ms: f"{m:02d}:{s:02d}{sep}{ms}", n, n, st.integers(min_value=0, max_value=9999))
    return st.one_of(ok, short, st.text(alphabet="0123456789:,.- ", max_size=14))


_line = st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=40)
_markup = st.sampled_from(["", "<i>", "</i>", "<b>x</b>", "{\\an8}", "<v Ann>", "&amp;", "<c.red>", "<00:01.000>",
                           "<font color=red>", "-->", "NOTE", "WEBVTT"])
_newline = st.sampled_from(["\n", "\r\n", "\r", "\n\n", " \n", ""])


def _cue(sep: str) -> st.SearchStrategy[str]:
    number = st.one_of(st.just(""), st.integers(min_value=-5, max_value=10_000).map(str))
    text = st.lists(st.builds(str.__add__, _markup, _line), max_size=3).map("\n".join)
    arrow = st.sampled_from([" --> ", "-->", " -> ", " --> "])
    return st.builds(lambda n, a, arr, b, tail, t, nl: f"{n}\n{a}{arr}{b}{tail}\n{t}{nl}",
                     number, _stamp(sep), arrow, _stamp(sep), st.sampled_from(["", " align:start", " x"]), text,
                     _newline)


srt_files = st.lists(_cue(","), max_size=8).map("\n".join)
vtt_files = st.builds(lambda head, cues: head + "\n".join(cues),
                      st.sampled_from(["WEBVTT\n\n", "WEBVTT - title\nKind: captions\n\n", "WEBVTT", "", "\ufeffWEBVTT\n\n",
                                       "WEBVTT\n\nNOTE a note\nmore\n\nSTYLE\n::cue {}\n\n"]),
                      st.lists(_cue("."), max_size=8))
_time = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(min_value=-10**6, max_value=10**12),
                  st.none(), st.text(max_size=5), st.booleans())
_word = st.fixed_dictionaries({"start": _time, "end": _time, "word": st.one_of(_line, st.none())},
                              optional={"probability": _time, "score": _time})
_segment = st.fixed_dictionaries(
    {}, optional={"id": st.one_of(st.integers(), st.text(max_size=3)), "start": _time, "end": _time,
                  "text": st.one_of(_line, st.none(), st.integers()), "words": st.lists(_word, max_size=3),
                  "speaker": st.one_of(st.none(), _line, st.integers())})
whisper_json = st.one_of(
    st.builds(lambda segs, extra: {"segments": segs, **extra}, st.lists(_segment, max_size=6),
              st.fixed_dictionaries({}, optional={"language": st.one_of(st.none(), _line), "duration": _time,
                                                  "has_times": st.one_of(st.booleans(), st.none())})),
    st.lists(_segment, max_size=6),
    st.recursive(st.none() | st.booleans() | st.floats() | _line, lambda c: st.lists(c) | st.dictionaries(_line, c),
                 max_leaves=10),
).map(lambda obj: json.dumps(obj))
_stamped = st.builds(lambda a, b, t: f"{a}[{b}] {t}", st.sampled_from(["", "**", "- "]), _stamp("."), _line)
text_files = st.one_of(_line, st.lists(st.one_of(_stamped, _line), max_size=10).map("\n".join))


# -- properties -----------------------------------------------------------------------------------------------
@FUZZ
@given(srt_files)
@example("1\n00:00:01,000 --> 00:00:02,000\nHello\n")
@example("1\n99:99:99,999 --> 00:00:00,000\nBackwards\n")
def test_srt_importer_never_crashes(text):
    check_import(text, ".srt")


@FUZZ
@given(vtt_files)
@example("WEBVTT\n\n00:01.000 --> 00:02.000\n<v Ann>Hi &amp; bye\n")
def test_vtt_importer_never_crashes(text):
    check_import(text, ".vtt")


@FUZZ
@given(whisper_json)
@example('{"segments": [{"start": NaN, "end": Infinity, "text": "poison"}]}')
@example('[{"start": 1e308, "end": 1e309, "text": "huge"}]')
@example('[{"start": 0, "end": 1, "text": "a", "words": [{"start": -1, "end": 0, "word": "a"}]}]')
def test_whisper_json_importer_never_crashes(text):
    check_import(text, ".json")


@FUZZ
@given(text_files)
@example("[00:05] first\n[00:02] second\n")
@example("**[1:02:03]** **Ann:** hello\n**[1:02:09]** bye")
def test_text_importer_never_crashes(text):
    check_import(text, ".txt")


@FUZZ
@given(st.binary(max_size=400), st.sampled_from([".srt", ".vtt", ".json", ".txt", ""]))
@example(b"\xff\xfe\x00\x001\x00\x00\x00", ".srt")
@example(b"\xff\xfe\x00", ".srt")
def test_any_bytes_never_crash_an_importer(data, ext):
    check_import(data, ext)


@pytest.mark.parametrize("encoding", ["utf-32-le", "utf-32-be", "utf-16-le", "utf-16-be", "utf-8"])
def test_subtitles_with_a_bom_import_in_every_unicode_encoding(tmp_path, encoding):
    srt = "1\n00:00:01,000 --> 00:00:02,500\nLe café ouvre à six heures.\n"
    bom = "\ufeff".encode(encoding)
    (tmp_path / "bom.srt").write_bytes(bom + srt.encode(encoding))
    t = load_transcript(tmp_path / "bom.srt")
    assert [(s.start, s.end, s.text) for s in t.segments] == [(1.0, 2.5, "Le café ouvre à six heures.")]
