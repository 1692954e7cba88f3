"""Transcript → text files (txt, srt, vtt, json, md), in the shape of WhisperX's / mlx-whisper's writers: one small
`ResultWriter` subclass per format, `get_writer(fmt).write(transcript, episode)` → str.

The JSON export keeps everything needed to import the transcript again (`ingest.transcripts` reads it back) and is
also a superset of openai-whisper's JSON ("text", "segments" with "words"), so tools that read Whisper output read it.
SRT carries no speakers (players would show them as text); VTT carries them as `<v Speaker>` voice tags; RTTM
is the speakers alone (who spoke when).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from rag.schema import Episode, Transcript, finite, format_ts


class ResultWriter:
    extension: str = ""
    needs_times: bool = False  # SRT and VTT cannot express a transcript without times

    def write(self, transcript: Transcript, episode: Episode | None = None) -> str:
        if self.needs_times and not transcript.has_times:
            raise ValueError(
                f"this transcript has no times (a plain-text import): it cannot be written as {self.extension}; "
                "use txt, json or md"
            )
        return self._write(transcript, episode)

    def _write(self, transcript: Transcript, episode: Episode | None) -> str:
        raise NotImplementedError

    def save(self, transcript: Transcript, path: str | Path, episode: Episode | None = None) -> Path:
        """Write to `path` (UTF-8). A folder gets `<episode title or 'transcript'>.<ext>` inside it."""
        p = Path(path)
        if p.is_dir():
            stem = _safe_name(episode.title) if episode else "transcript"
            p = p / f"{stem}.{self.extension}"
        p.write_text(self.write(transcript, episode), encoding="utf-8")
        return p


def _safe_name(title: str) -> str:
    keep = "".join(c if c.isalnum() or c in " -_.()" else "_" for c in title).strip(" .")
    return keep[:120] or "transcript"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _clock(seconds: float, sep: str) -> str:
    """HH:MM:SS<sep>mmm, rounded to the millisecond once (no 59.9996 → "60.000")."""
    ms = max(0, round(finite(seconds) * 1000))  # a stored NaN or infinity (an old library) is written as 0
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


class WriteTXT(ResultWriter):
    extension = "txt"

    def _write(self, transcript, episode):
        lines = []
        for seg in transcript.segments:
            text = _one_line(seg.text)
            if text:
                lines.append(f"{seg.speaker}: {text}" if seg.speaker else text)
        return "\n".join(lines) + "\n"


class WriteSRT(ResultWriter):
    extension = "srt"
    needs_times = True

    def _write(self, transcript, episode):
        blocks = []
        for seg in (s for s in transcript.segments if _one_line(s.text)):
            text = _one_line(seg.text)
            blocks.append(f"{len(blocks) + 1}\n{_clock(seg.start, ',')} --> {_clock(seg.end, ',')}\n{text}\n")
        return "\n".join(blocks)


class WriteVTT(ResultWriter):
    extension = "vtt"
    needs_times = True

    def _write(self, transcript, episode):
        blocks = ["WEBVTT\n"]
        for seg in (s for s in transcript.segments if _one_line(s.text)):
            text = _one_line(seg.text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            if seg.speaker:
                text = f"<v {_one_line(seg.speaker).replace('>', '')}>{text}"
            blocks.append(f"{_clock(seg.start, '.')} --> {_clock(seg.end, '.')}\n{text}\n")
        return "\n".join(blocks)


class WriteJSON(ResultWriter):
    extension = "json"

    def _write(self, transcript, episode):
        data = _json_safe({
            "episode": episode.model_dump(mode="json") if episode else None,
            "language": transcript.language,
            "model": transcript.model,
            "duration": transcript.duration,
            "has_times": transcript.has_times,
            "has_word_times": transcript.has_word_times,
            "text": transcript.text,
            "segments": [
                {
                    "id": s.id,
                    "start": s.start,
                    "end": s.end,
                    "text": s.text,
                    "words": [w.model_dump(exclude=None if w.speaker else {"speaker"}) for w in s.words],
                    "speaker": s.speaker,
                }
                for s in transcript.segments
            ],
        })
        return json.dumps(data, ensure_ascii=False, indent=2, allow_nan=False) + "\n"


def _json_safe(obj):
    """NaN and infinities (JSON has neither) as null, so the export is valid JSON whatever an old library holds."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_json_safe(v) for v in obj]
    return obj


class WriteMarkdown(ResultWriter):
    extension = "md"

    def _write(self, transcript, episode):
        out = [f"# {episode.title if episode else 'Transcript'}", ""]
        meta = []
        if episode:
            meta.append(("Source", episode.source))
        duration = (episode.duration if episode else None) or transcript.duration
        if duration:
            meta.append(("Duration", format_ts(duration)))
        if (episode and episode.language) or transcript.language:
            meta.append(("Language", (episode.language if episode else None) or transcript.language))
        if (episode and episode.asr_model) or transcript.model:
            meta.append(("Transcribed by", (episode.asr_model if episode else None) or transcript.model))
        if episode and episode.tags:
            meta.append(("Tags", ", ".join(episode.tags)))
        if not transcript.has_times:
            meta.append(("Times", "none (imported from plain text)"))
        out += [f"- **{k}:** {v}" for k, v in meta]
        if meta:
            out.append("")
        if episode and episode.description:
            out += [_one_line(episode.description), ""]
        if episode and episode.summary:
            out += ["## Summary", "", episode.summary.strip(), ""]
        if episode and episode.chapters:
            out += ["## Chapters", ""]
            out += [f"- **[{format_ts(c.start)}]** {_one_line(c.title)}" for c in episode.chapters]
            out.append("")
        out += ["## Transcript", ""]
        for seg in transcript.segments:
            text = _one_line(seg.text)
            if not text:
                continue
            if seg.speaker:
                text = f"**{_one_line(seg.speaker)}:** {text}"
            out += [f"**[{format_ts(seg.start)}]** {text}" if transcript.has_times else text, ""]
        return "\n".join(out)


class WriteRTTM(ResultWriter):
    """NIST RTTM, the diarization exchange format: one SPEAKER line per segment that has a speaker (what
    pyannote.metrics and dscore read). The file id is the episode id (it has no spaces)."""

    extension = "rttm"
    needs_times = True

    def _write(self, transcript, episode):
        uri = episode.id if episode else "transcript"
        lines = []
        for seg in transcript.segments:
            if seg.speaker and seg.end > seg.start:
                who = "_".join(seg.speaker.split())
                lines.append(f"SPEAKER {uri} 1 {seg.start:.3f} {seg.end - seg.start:.3f} <NA> <NA> {who} <NA> <NA>")
        if not lines:
            raise ValueError("this transcript has no speakers to write as RTTM (diarize it: audiorag reindex --diarize)")
        return "\n".join(lines) + "\n"


WRITERS: dict[str, type[ResultWriter]] = {
    "txt": WriteTXT,
    "srt": WriteSRT,
    "vtt": WriteVTT,
    "json": WriteJSON,
    "md": WriteMarkdown,
    "rttm": WriteRTTM,
}
_ALIASES = {"text": "txt", "markdown": "md", "webvtt": "vtt"}


def get_writer(fmt: str) -> ResultWriter:
    key = fmt.lower().lstrip(".")
    key = _ALIASES.get(key, key)
    if key not in WRITERS:
        raise ValueError(f"unknown transcript format {fmt!r}: choose one of {', '.join(WRITERS)}")
    return WRITERS[key]()
