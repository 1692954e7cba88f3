"""Existing transcripts → `rag.schema.Transcript`, so a library can be built without running ASR.

Accepted: Whisper JSON (openai-whisper and mlx-whisper write the same shape; faster-whisper segments as a list or
under "segments"; WhisperX's "score" and "speaker"), our own JSON export (ingest.writers), SRT, WebVTT, and plain
text. Plain text has no times (`has_times=False`): it can be searched and answered from, but never cited by time.
Text whose lines start with a time stamp (`[00:12] …`, `**[1:02:03]** …`, as our Markdown export writes) gets
those times; each line then ends where the next begins.

No SRT/VTT parser library is installed in this project, so a small one is here: cue numbers optional,
`HH:MM:SS,mmm` and `MM:SS.mmm`, multi-line cues, VTT header/NOTE/STYLE/REGION blocks, `<v Speaker>` voice tags,
inline tags and entities removed, and YouTube's rolling auto-captions de-duplicated.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from rag.errors import AudioragError
from rag.schema import InvalidTranscript, Segment, Transcript, Word, validate_transcript


class TranscriptError(AudioragError, ValueError):
    """A transcript file that cannot be imported. The message is one line: '<file>: <reason>'."""


TRANSCRIPT_EXTENSIONS = (".json", ".srt", ".vtt", ".txt", ".md")


def load_transcript(path: str | Path, duration: float | None = None) -> Transcript:
    """Read a transcript file, choosing the parser by extension and, for anything else, by content, and check it
    (rag.schema.validate_transcript; against the recording's `duration` when known)."""
    p = Path(path)
    try:
        text = read_transcript_text(p)
        if not text.strip():
            raise TranscriptError("empty file")
        kind = _kind(p, text)
        parser = {"json": parse_json, "srt": parse_srt, "vtt": parse_vtt, "text": parse_text}[kind]
        return validate_transcript(parser(text), duration)
    except (TranscriptError, InvalidTranscript) as exc:
        raise TranscriptError(f"{p.name}: {exc}") from None
    except FileNotFoundError:
        raise TranscriptError(f"{p.name}: file not found ({p})") from None
    except IsADirectoryError:
        raise TranscriptError(f"{p.name}: not a file") from None
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(x) for x in err.get("loc", ()))
        raise TranscriptError(f"{p.name}: invalid transcript: {where + ': ' if where else ''}{err['msg']}") from None
    except (ValueError, TypeError) as exc:
        raise TranscriptError(f"{p.name}: invalid transcript: {exc}") from None


def read_transcript_text(p: Path) -> str:
    data = p.read_bytes()
    if data.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):  # before UTF-16: FF FE also opens UTF-32-LE
        return data.decode("utf-32")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:  # old subtitle files are often cp1252 / latin-1
        from charset_normalizer import from_bytes

        best = from_bytes(data).best()
        if best is not None:
            return str(best)
    except ImportError:
        pass
    return data.decode("latin-1")


_TIMING = re.compile(
    r"^\s*((?:\d+:)?\d{1,2}:\d{1,2}(?:[,.]\d{1,3})?)\s*-->\s*((?:\d+:)?\d{1,2}:\d{1,2}(?:[,.]\d{1,3})?)(.*)$"
)


def _kind(p: Path, text: str) -> str:
    ext = p.suffix.lower()
    head = text.lstrip()
    if ext == ".json":
        return "json"
    if ext == ".vtt" or head.startswith("WEBVTT"):
        return "vtt"
    if ext == ".srt":
        return "srt"
    if head[:1] in "{[":
        try:
            json.loads(text)
            return "json"
        except json.JSONDecodeError:
            pass
    if any(_TIMING.match(line) for line in text.splitlines()[:50]):
        return "srt"
    return "text"


# -- JSON ---------------------------------------------------------------------------------------------------------
def parse_json(text: str) -> Transcript:
    """openai-whisper / mlx-whisper / faster-whisper / WhisperX / our export → Transcript."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TranscriptError(f"not valid JSON (line {exc.lineno}: {exc.msg})") from None
    data = whisper_shape(data)
    raw = data["segments"]
    if not raw:
        raise TranscriptError("the transcript has no segments")
    for i, s in enumerate(raw):
        missing = [k for k in ("start", "end", "text") if k not in s]
        if missing:
            raise TranscriptError(f"segment {i} has no {', '.join(missing)}")
    ids = [s.get("id") for s in raw]
    keep_ids = all(isinstance(i, int) for i in ids) and len(set(ids)) == len(ids)
    segments = []
    for i, s in enumerate(raw):
        words = [_word(w) for w in s.get("words") or [] if isinstance(w, dict)]
        segments.append(
            Segment(
                id=ids[i] if keep_ids else i,
                start=float(s["start"]),
                end=float(s["end"]),
                text=str(s["text"]).strip(),
                words=[w for w in words if w is not None],
                speaker=s.get("speaker"),
            )
        )
    episode = data.get("episode") if isinstance(data.get("episode"), dict) else {}
    has_times = bool(data.get("has_times", True))
    return Transcript(
        segments=segments,
        language=data.get("language") or episode.get("language"),
        model=data.get("model") or episode.get("asr_model"),
        duration=_float_or_none(data.get("duration")) or (max(s.end for s in segments) if has_times else None),
        has_word_times=any(s.words for s in segments) and all(s.words for s in segments if s.text),
        has_times=has_times,
    )


def whisper_shape(data: Any) -> dict:
    """`data` as {"segments": [objects…], …}, or TranscriptError when JSON is not shaped like a transcript at all
    (a manifest, a config): how a folder scan tells other JSON files from transcripts, bad ones included."""
    if isinstance(data, list):
        data = {"segments": data}
    if not isinstance(data, dict) or not isinstance(data.get("segments"), list):
        raise TranscriptError('not a Whisper transcript: expected {"segments": [...]} or a list of segments')
    if not all(isinstance(s, dict) for s in data["segments"]):
        raise TranscriptError("not a Whisper transcript: each segment must be an object with start, end and text")
    return data


def _word(w: dict[str, Any]) -> Word | None:
    """WhisperX leaves some words (numbers, symbols) without times: those are dropped from the word list only."""
    if w.get("start") is None or w.get("end") is None or "word" not in w:
        return None
    prob = w.get("probability", w.get("score"))
    return Word(start=float(w["start"]), end=float(w["end"]), word=str(w["word"]), probability=prob)


def _float_or_none(x: Any) -> float | None:
    try:
        return float(x) if x is not None else None
    except (TypeError, ValueError):
        return None


# -- SRT / VTT ------------------------------------------------------------------------------------------------------
# VTT escapes < and & in text, so anything in <> is markup: <i>, </c>, <c.red>, <v Ann>, <00:01.000>.
_VTT_TAG = re.compile(r"</?[A-Za-z][^<>]*>|<\d[\d:.]*>")
# SRT has no escaping: only the tags players know (<i>, <b>, <u>, <s>, <font …>) and ASS overrides ({\an8}) are
# markup; any other "<…>" is text.
_SRT_TAG = re.compile(r"</?(?:i|b|u|s|font)(?:\s[^<>]*)?>|\{\\[^{}]*\}", re.IGNORECASE)
_VOICE = re.compile(r"<v(?:\.[\w.-]+)?\s+([^>]+)>")


def _seconds(stamp: str) -> float:
    stamp = stamp.replace(",", ".")
    main, _, frac = stamp.partition(".")
    parts = [int(x) for x in main.split(":")]
    h, m, s = ([0] * (3 - len(parts)) + parts)[-3:]
    return h * 3600 + m * 60 + s + (int(frac.ljust(3, "0")[:3]) / 1000 if frac else 0.0)


def _clean_cue(lines: list[str], vtt: bool) -> tuple[list[str], str | None]:
    speaker = None
    out = []
    for line in lines:
        if vtt:
            voice = _VOICE.search(line)
            if voice and speaker is None:
                speaker = voice.group(1).strip()
            line = html.unescape(_VTT_TAG.sub("", line)).replace("\u200e", "").replace("\u200f", "")
        else:
            line = html.unescape(_SRT_TAG.sub("", line))  # entities are not SRT, but converters leave them
        line = " ".join(line.split())
        if line:
            out.append(line)
    return out, speaker


def _cues(text: str, vtt: bool) -> list[tuple[float, float, list[str]]]:
    """(start, end, raw text lines) for each cue. In SRT a whitespace-only line ends a cue; in VTT only an empty
    one does (YouTube's captions start cues with a line holding one space)."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    cues: list[tuple[float, float, list[str]]] = []
    current: list[str] | None = None
    skipping = vtt  # the WEBVTT header block runs to the first blank line
    for line in lines:
        blank = line == "" if vtt else not line.strip()
        timing = _TIMING.match(line)
        if timing:
            if current is not None and current and current[-1].strip().isdigit():
                current.pop()  # the next cue's number, in a file with no blank line between cues
            current = []
            cues.append((_seconds(timing.group(1)), _seconds(timing.group(2)), current))
            skipping = False
        elif blank:
            current = None
            skipping = False
        elif skipping:
            continue
        elif current is not None:
            current.append(line)
        elif vtt and re.match(r"^(NOTE|STYLE|REGION)(\s|$)", line):
            skipping = True  # a block that is not a cue: skip to the next blank line
        # anything else outside a cue (a cue number or identifier) is ignored
    return cues


def _parse_cues(text: str, vtt: bool) -> Transcript:
    rolling = vtt and re.search(r"<\d{2}:\d{2}[:.]", text) is not None  # YouTube auto-captions
    segments: list[Segment] = []
    previous: list[str] = []
    for start, end, raw in _cues(text, vtt):
        lines, speaker = _clean_cue(raw, vtt)
        if rolling:
            shown = lines
            while lines and previous and lines[0] in previous:
                lines = lines[1:]  # the line scrolled up from the cue before
            previous = shown
        if not lines:
            continue
        if end < start:
            raise TranscriptError(f"cue at {start:.3f} s ends before it starts")
        segments.append(Segment(id=0, start=start, end=end, text=" ".join(lines), speaker=speaker))
    if not segments:
        raise TranscriptError(f"no {'WebVTT' if vtt else 'SRT'} cues found")
    segments.sort(key=lambda s: s.start)
    for i, s in enumerate(segments):
        s.id = i
    return Transcript(
        segments=segments,
        model="import:vtt" if vtt else "import:srt",
        duration=max(s.end for s in segments),
    )


def parse_srt(text: str) -> Transcript:
    return _parse_cues(text, vtt=False)


def parse_vtt(text: str) -> Transcript:
    if not text.lstrip().startswith("WEBVTT"):
        raise TranscriptError("not a WebVTT file (it must start with WEBVTT)")
    return _parse_cues(text, vtt=True)


# -- plain text -----------------------------------------------------------------------------------------------------
_STAMPED = re.compile(
    r"^\s*(?:\*\*)?[\[(]?((?:\d+:)?\d{1,2}:\d{2}(?:[.,]\d{1,3})?)[\])]?(?:\*\*)?\s*(?:[-–—:|]\s*)?(.*)$"
)


def parse_text(text: str) -> Transcript:
    """One segment per paragraph (blank-line separated; one per line when there are no blank lines), no times.
    If most lines start with a time stamp, those times are used instead."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = [ln for ln in text.split("\n") if ln.strip()]
    stamped = [m for m in (_STAMPED.match(ln) for ln in lines) if m and m.group(2).strip()]
    prose = [ln for ln in lines if not re.match(r"^\s*(#|[-*+] )", ln)]  # Markdown headings and lists aside
    if len(stamped) >= 2 and len(stamped) >= 0.5 * len(prose):
        starts = [_seconds(m.group(1)) for m in stamped]
        if starts == sorted(starts):
            return _stamped_text(stamped, starts)
    paragraphs = [p for p in re.split(r"\n\s*\n", text) if p.strip()]
    if len(paragraphs) == 1:
        paragraphs = lines
    segments = [Segment(id=i, start=0.0, end=0.0, text=" ".join(p.split())) for i, p in enumerate(paragraphs)]
    return Transcript(segments=segments, model="import:text", has_times=False)


def _stamped_text(matches: list[re.Match], starts: list[float]) -> Transcript:
    segments = []
    for i, (m, start) in enumerate(zip(matches, starts, strict=True)):
        body = " ".join(m.group(2).split())
        speaker = None
        sm = re.match(r"^\*\*([^*]{1,40}):\*\*\s*(.*)$", body)  # **Name:** text (our Markdown export)
        if sm:
            speaker, body = sm.group(1), sm.group(2)
        # the last line has no successor: assume ~2.5 words a second
        end = starts[i + 1] if i + 1 < len(starts) else start + max(1.0, len(body.split()) / 2.5)
        segments.append(Segment(id=i, start=start, end=max(start, end), text=body, speaker=speaker))
    return Transcript(segments=segments, model="import:text", duration=segments[-1].end)


# -- playback -------------------------------------------------------------------------------------------------------
def find_sidecar_audio(transcript_path: str | Path) -> Path | None:
    """An audio file beside the transcript with the same stem (`talk.srt` → `talk.mp3`; `talk.en.vtt` → `talk.m4a`
    too), so an imported transcript can still be played back at its citations."""
    from ingest.decode import AUDIO_EXTENSIONS

    p = Path(transcript_path)
    stems = [p.stem]
    inner = Path(p.stem)
    if inner.suffix and 2 <= len(inner.suffix) <= 7 and inner.suffix.lower() not in AUDIO_EXTENSIONS:
        stems.append(inner.stem)  # a language tag such as .en or .en-US
    try:
        entries = [f for f in p.parent.iterdir() if f.suffix.lower() in AUDIO_EXTENSIONS and f.is_file()]
    except OSError:
        return None
    for stem in stems:
        matches = [f for f in entries if f.stem == stem]
        if matches:
            return min(matches, key=lambda f: AUDIO_EXTENSIONS.index(f.suffix.lower()))
    return None
