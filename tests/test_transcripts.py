"""ingest.transcripts (every import format, and malformed files) and ingest.normalize."""

from __future__ import annotations

import dataclasses
import json

import pytest

from ingest.normalize import normalize_text, normalize_transcript
from ingest.transcripts import TranscriptError, find_sidecar_audio, load_transcript
from rag.schema import Segment, Transcript, Word

OPENAI = {
    "text": " And so my fellow Americans, ask not what your country can do for you.",
    "segments": [
        {
            "id": 0, "seek": 0, "start": 0.0, "end": 4.2, "text": " And so my fellow Americans,",
            "tokens": [50364, 400], "temperature": 0.0, "avg_logprob": -0.2, "compression_ratio": 1.2,
            "no_speech_prob": 0.01,
            "words": [
                {"word": " And", "start": 0.0, "end": 0.5, "probability": 0.9},
                {"word": " so", "start": 0.5, "end": 1.0, "probability": 0.95},
                {"word": " my", "start": 1.0, "end": 1.4, "probability": 0.99},
                {"word": " fellow", "start": 1.4, "end": 1.8, "probability": 0.99},
                {"word": " Americans,", "start": 1.8, "end": 4.2, "probability": 0.97},
            ],
        },
        {
            "id": 1, "seek": 0, "start": 4.2, "end": 8.0, "text": " ask not what your country can do for you.",
            "words": [{"word": " ask", "start": 4.2, "end": 8.0, "probability": 0.8}],
        },
    ],
    "language": "en",
}  # fmt: skip


def write(tmp_path, name: str, content: str | bytes):
    p = tmp_path / name
    if isinstance(content, bytes):
        p.write_bytes(content)
    else:
        p.write_text(content, encoding="utf-8")
    return p


# -- JSON ---------------------------------------------------------------------------------------------------------
def test_openai_whisper_json(tmp_path):
    t = load_transcript(write(tmp_path, "jfk.json", json.dumps(OPENAI)))
    assert [s.id for s in t.segments] == [0, 1]
    assert t.segments[0].text == "And so my fellow Americans,"
    assert (t.segments[1].start, t.segments[1].end) == (4.2, 8.0)
    assert t.segments[0].words[4] == Word(word=" Americans,", start=1.8, end=4.2, probability=0.97)
    assert t.language == "en" and t.has_times and t.has_word_times and t.duration == 8.0


def test_faster_whisper_list_and_dict(tmp_path):
    from faster_whisper.transcribe import Segment as FwSegment
    from faster_whisper.transcribe import Word as FwWord

    fw = [
        FwSegment(id=1, seek=0, start=0.0, end=2.5, text=" Hello there.", tokens=[1], avg_logprob=-0.1,
                  compression_ratio=1.0, no_speech_prob=0.0, temperature=0.0,
                  words=[FwWord(start=0.0, end=1.0, word=" Hello", probability=0.9),
                         FwWord(start=1.0, end=2.5, word=" there.", probability=0.8)]),
        FwSegment(id=2, seek=0, start=2.5, end=5.0, text=" General Kenobi.", tokens=[2], avg_logprob=-0.1,
                  compression_ratio=1.0, no_speech_prob=0.0, temperature=0.0,
                  words=[FwWord(start=2.5, end=5.0, word=" General Kenobi.", probability=0.7)]),
    ]  # fmt: skip
    as_list = [dataclasses.asdict(s) for s in fw]
    for content in (as_list, {"segments": as_list, "language": "en"}):
        t = load_transcript(write(tmp_path, "fw.json", json.dumps(content)))
        assert [(s.id, s.start, s.end, s.text) for s in t.segments] == [
            (1, 0.0, 2.5, "Hello there."),
            (2, 2.5, 5.0, "General Kenobi."),
        ]
        assert t.segments[0].words[1].word == " there." and t.has_word_times


def test_whisperx_scores_speakers_and_untimed_words(tmp_path):
    data = {
        "segments": [
            {"start": 0.0, "end": 3.0, "text": "It cost 20 dollars.", "speaker": "SPEAKER_00",
             "words": [{"word": "It", "start": 0.0, "end": 0.4, "score": 0.9}, {"word": "cost", "start": 0.4,
                       "end": 0.9, "score": 0.8}, {"word": "20"}, {"word": "dollars.", "start": 1.5, "end": 3.0}]},
            {"start": 3.0, "end": 4.0, "text": "Yes.", "speaker": "SPEAKER_01"},
        ],
        "word_segments": [],
    }  # fmt: skip
    t = load_transcript(write(tmp_path, "x.json", json.dumps(data)))
    assert [s.id for s in t.segments] == [0, 1]  # no ids in the file → numbered
    assert [w.word for w in t.segments[0].words] == ["It", "cost", "dollars."]
    assert t.segments[0].words[0].probability == 0.9
    assert [s.speaker for s in t.segments] == ["SPEAKER_00", "SPEAKER_01"]
    assert not t.has_word_times  # the second segment has none


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"segments": [', "not valid JSON"),
        ('{"text": "hello"}', "not a Whisper transcript"),
        ('"just a string"', "not a Whisper transcript"),
        ('{"segments": []}', "no segments"),
        ('{"segments": [{"start": 0, "text": "hi"}]}', "segment 0 has no end"),
        ('{"segments": [{"start": 5, "end": 1, "text": "hi"}]}', "before start"),
        ('{"segments": [{"start": "soon", "end": 1, "text": "hi"}]}', "invalid transcript"),
        ('{"segments": [{"start": null, "end": 1, "text": "hi"}]}', "invalid transcript"),
        ("[1, 2, 3]", "each segment must be an object"),
    ],
)
def test_malformed_json(tmp_path, content, message):
    with pytest.raises(TranscriptError, match=message) as err:
        load_transcript(write(tmp_path, "bad.json", content))
    assert str(err.value).startswith("bad.json: ") and "\n" not in str(err.value)


def test_empty_and_missing_files(tmp_path):
    for name in ("empty.json", "empty.srt", "empty.vtt", "empty.txt"):
        with pytest.raises(TranscriptError, match=f"^{name}: empty file$"):
            load_transcript(write(tmp_path, name, " \n\n "))
    with pytest.raises(TranscriptError, match="file not found"):
        load_transcript(tmp_path / "missing.srt")


# -- SRT ----------------------------------------------------------------------------------------------------------
SRT = """1
00:00:01,000 --> 00:00:04,500
<i>Hello</i> and welcome
to the show.

2
00:00:05,250 --> 00:00:07,000 X1:100 X2:200
{\\an8}It's 5 &lt; 6 & a < b.

3
01:02:03,004 --> 01:02:05,999
Last line.
"""


def test_srt(tmp_path):
    t = load_transcript(write(tmp_path, "show.srt", SRT))
    assert [(s.id, s.start, s.end, s.text) for s in t.segments] == [
        (0, 1.0, 4.5, "Hello and welcome to the show."),
        (1, 5.25, 7.0, "It's 5 < 6 & a < b."),
        (2, 3723.004, 3725.999, "Last line."),
    ]
    assert t.has_times and not t.has_word_times and t.duration == 3725.999


def test_srt_without_numbers_blank_lines_or_hours_crlf_and_cp1252(tmp_path):
    text = (
        "00:01.5 --> 00:02.000\r\nCaf\xe9 one\r\n2\r\n"  # no blank line before cue 2
        "00:03,000 --> 00:04,000\r\nTwo\r\n   \r\n"  # a whitespace-only line ends a cue
        "00:05,000 --> 00:06,000\r\nThree"  # no cue number, no final newline
    )
    t = load_transcript(write(tmp_path, "odd.srt", text.encode("cp1252")))
    assert [(s.start, s.end, s.text) for s in t.segments] == [
        (1.5, 2.0, "Café one"),
        (3.0, 4.0, "Two"),
        (5.0, 6.0, "Three"),
    ]


def test_srt_sniffed_without_extension(tmp_path):
    t = load_transcript(write(tmp_path, "captions.sub.txt", SRT))
    assert t.has_times and len(t.segments) == 3


def test_malformed_srt(tmp_path):
    with pytest.raises(TranscriptError, match="no SRT cues found"):
        load_transcript(write(tmp_path, "bad.srt", "1\nhello there\n\n2\nno times here\n"))
    with pytest.raises(TranscriptError, match="ends before it starts"):
        load_transcript(write(tmp_path, "back.srt", "1\n00:00:05,000 --> 00:00:01,000\nbackwards\n"))


# -- VTT ----------------------------------------------------------------------------------------------------------
VTT = """WEBVTT - a title
Kind: captions
Language: en

STYLE
::cue { color: yellow }

NOTE this is a comment
that spans two lines --

REGION
id:fred width:40%

intro
00:00.000 --> 00:02.500 align:start position:10%
<v Roger Bingham>We are in New York City

00:00:02.500 --> 00:00:05.000
<v.loud Neil deGrasse Tyson><b>Hi</b> &amp; welcome</v>
to the show &lt;3

NOTE
another note

3
00:00:05.000 --> 00:00:06.000
<c.yellow>plain</c> &nbsp;text
"""


def test_vtt(tmp_path):
    t = load_transcript(write(tmp_path, "talk.vtt", VTT))
    assert [(s.start, s.end, s.text, s.speaker) for s in t.segments] == [
        (0.0, 2.5, "We are in New York City", "Roger Bingham"),
        (2.5, 5.0, "Hi & welcome to the show <3", "Neil deGrasse Tyson"),
        (5.0, 6.0, "plain text", None),
    ]
    assert [s.id for s in t.segments] == [0, 1, 2]


def test_youtube_rolling_captions_are_not_repeated(tmp_path):
    # the lines holding a single space are part of YouTube's format (in VTT only an empty line ends a cue)
    vtt = (
        "WEBVTT\nKind: captions\nLanguage: en\n\n"
        "00:00:00.000 --> 00:00:02.350 align:start position:0%\n \nhello<00:00:00.480><c> world</c>\n\n"
        "00:00:02.350 --> 00:00:02.360 align:start position:0%\nhello world\n \n\n"
        "00:00:02.360 --> 00:00:05.000 align:start position:0%\nhello world\nnext<00:00:02.800><c> words</c>\n\n"
        "00:00:05.000 --> 00:00:05.010 align:start position:0%\nnext words\n \n"
    )
    t = load_transcript(write(tmp_path, "yt.en.vtt", vtt))
    assert [(s.start, s.text) for s in t.segments] == [(0.0, "hello world"), (2.36, "next words")]


def test_malformed_vtt(tmp_path):
    with pytest.raises(TranscriptError, match="not a WebVTT file"):
        load_transcript(write(tmp_path, "x.vtt", "00:00.000 --> 00:01.000\nhi\n"))
    with pytest.raises(TranscriptError, match="no WebVTT cues"):
        load_transcript(write(tmp_path, "y.vtt", "WEBVTT\n\nNOTE nothing here\n"))


# -- plain text ---------------------------------------------------------------------------------------------------
def test_plain_text_paragraphs_have_no_times(tmp_path):
    text = "First paragraph\nstill the first.\n\n\nSecond one.\n\n  Third.  \n"
    t = load_transcript(write(tmp_path, "notes.txt", text))
    assert [s.text for s in t.segments] == ["First paragraph still the first.", "Second one.", "Third."]
    assert t.has_times is False and all(s.start == s.end == 0 for s in t.segments)


def test_plain_text_lines_when_there_are_no_blank_lines(tmp_path):
    t = load_transcript(write(tmp_path, "lines.txt", "one\ntwo\nthree"))
    assert [s.text for s in t.segments] == ["one", "two", "three"] and not t.has_times


def test_text_with_time_stamps(tmp_path):
    text = "[00:00] Welcome back.\n[00:07] Today: chunking.\n(1:02:03) Much later.\n"
    t = load_transcript(write(tmp_path, "stamped.txt", text))
    assert t.has_times
    assert [(s.start, s.end, s.text) for s in t.segments][:2] == [
        (0.0, 7.0, "Welcome back."),
        (7.0, 3723.0, "Today: chunking."),
    ]
    assert t.segments[2].start == 3723.0 and t.segments[2].end > 3723.0


def test_json_array_in_txt_is_sniffed(tmp_path):
    t = load_transcript(write(tmp_path, "out", json.dumps(OPENAI["segments"])))
    assert len(t.segments) == 2 and t.has_word_times


# -- sidecar audio ------------------------------------------------------------------------------------------------
def test_find_sidecar_audio(tmp_path):
    srt = write(tmp_path, "talk.srt", SRT)
    assert find_sidecar_audio(srt) is None
    (tmp_path / "talk.json").write_text("{}")
    (tmp_path / "other.mp3").write_bytes(b"x")
    assert find_sidecar_audio(srt) is None
    (tmp_path / "talk.M4A").write_bytes(b"x")
    assert find_sidecar_audio(srt) == tmp_path / "talk.M4A"
    (tmp_path / "talk.wav").write_bytes(b"x")
    assert find_sidecar_audio(srt) == tmp_path / "talk.wav"  # wav is preferred
    lang = write(tmp_path, "talk.en.vtt", VTT)
    assert find_sidecar_audio(lang) == tmp_path / "talk.wav"
    (tmp_path / "café ß.opus").write_bytes(b"x")
    assert find_sidecar_audio(write(tmp_path, "café ß.txt", "hi")) == tmp_path / "café ß.opus"


# -- normalize ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("  so   the the  cat\n sat ", "so the cat sat"),
        ("I I I think that that is fine", "I think that that is fine"),
        ("it was very very good , no no no", "it was very very good, no no no"),
        ("hello , world . Right ?", "hello, world. Right?"),
        ("see ( this ) and [ that ]", "see (this) and [that]"),
        ("version .NET and 3 .5", "version .NET and 3 .5"),
    ],
)
def test_normalize_text(raw, clean):
    assert normalize_text(raw) == clean


def test_normalize_text_french_keeps_its_spaces():
    assert normalize_text("Bonjour , ça va ? Oui !", "fr") == "Bonjour, ça va ? Oui !"


def test_normalize_transcript_changes_only_text():
    words = [Word(start=0.0, end=0.5, word=" the"), Word(start=0.5, end=1.0, word=" the")]
    segs = [
        Segment(id=7, start=0.0, end=2.0, text=" the the  start of it ,", words=words, speaker="A"),
        Segment(id=9, start=2.0, end=3.0, text="and then."),
        Segment(id=10, start=3.0, end=4.0, text="   "),
        Segment(id=11, start=4.0, end=5.0, text="iPhone time. "),
        Segment(id=12, start=5.0, end=6.0, text="next sentence"),
    ]
    t = Transcript(segments=segs, language="en", model="m", duration=6.0, has_word_times=True)
    out = normalize_transcript(t)
    assert [s.text for s in out.segments] == ["The start of it,", "and then.", "", "iPhone time.", "Next sentence"]
    assert [(s.id, s.start, s.end, s.words, s.speaker) for s in out.segments] == [
        (s.id, s.start, s.end, s.words, s.speaker) for s in segs
    ]
    assert out.model_dump(exclude={"segments"}) == t.model_dump(exclude={"segments"})
    assert t.segments[0].text == " the the  start of it ,"  # the input is untouched
