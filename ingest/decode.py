"""Any recording → 16 kHz mono float32, the one input every ASR backend takes.

PyAV (FFmpeg's libraries, shipped in the `av` wheel) does the demuxing, decoding, down-mixing and resampling in
process: no `ffmpeg` binary, no temp files, and any container FFmpeg knows (wav, mp3, m4a, flac, ogg, opus, webm,
mp4/mov audio tracks…) works the same way.

Errors a user can cause (a missing, empty, corrupt, silent or huge file, or a video without sound) are raised as
one `DecodeError` line that names the file and the reason, so a batch ingest can report it and go on.

Truncated files: FFmpeg decodes what is there. If the container said it was longer than what could be decoded
(or decoding stopped on corrupt data), the audio is accepted with a `DecodeWarning` when at least
`MIN_PARTIAL_SECONDS` came out, and refused otherwise — a recording cut short is still worth transcribing, a few
hundred milliseconds of it is not. (A stated duration can be an estimate — a VBR mp3 without a Xing header — so the
warning can be a false alarm; that is why it is only a warning.)
"""

from __future__ import annotations

import hashlib
import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from rag.errors import AudioragError

SAMPLE_RATE = 16000
MAX_SECONDS = 12 * 3600.0  # 12 h of 16 kHz float32 is 2.8 GB in memory: beyond that, refuse rather than swap
MIN_PARTIAL_SECONDS = 1.0
SILENCE_DBFS = -60.0
AUDIO_EXTENSIONS = (
    ".wav", ".mp3", ".m4a", ".flac", ".ogg", ".opus", ".webm", ".mp4", ".mov", ".aac", ".wma", ".aiff", ".aif",
    ".mka", ".mkv", ".m4b", ".caf", ".amr", ".3gp",
)  # fmt: skip


class DecodeError(AudioragError, ValueError):
    """A file that cannot give usable audio. The message is one line: '<file>: <reason>'."""


class DecodeWarning(UserWarning):
    """The audio was decoded, but not all of it (a truncated or partly corrupt file)."""


def _fail(path: Path, reason: str) -> DecodeError:
    return DecodeError(f"{path.name}: {reason}")


def _check_file(path: str | Path) -> Path:
    p = Path(path)
    if not p.exists():
        raise _fail(p, f"file not found ({p})")
    if not p.is_file():
        raise _fail(p, "not a file")
    if p.stat().st_size == 0:
        raise _fail(p, "empty file (0 bytes)")
    return p


def _open(p: Path):
    """Open a container and pick its audio stream, or raise a DecodeError saying why there is none."""
    import av

    try:
        container = av.open(str(p), metadata_errors="ignore")
    except av.error.FFmpegError as exc:
        raise _fail(p, f"not an audio or video file ({_reason(exc)})") from None
    if not container.streams.audio:
        kinds = sorted({s.type for s in container.streams if s.type in ("video", "subtitle", "data")})
        container.close()
        if "video" in kinds:
            raise _fail(p, "no audio stream (a video without sound?)")
        raise _fail(p, "not an audio or video file (no audio stream)")
    return container, container.streams.best("audio") or container.streams.audio[0]


def _reason(exc: Exception) -> str:
    """FFmpeg's own words for what went wrong, without the errno and the repeated file name."""
    text = getattr(exc, "strerror", None) or str(exc)
    return text.split(":")[0].strip().lower() or type(exc).__name__


def _stated_duration(container, stream) -> float | None:
    """What the container says (headers, Xing/Info tags, bitrate estimate); None when it does not know."""
    if stream.duration is not None and stream.time_base:
        d = float(stream.duration * stream.time_base)
        if d > 0:
            return d
    if container.duration is not None and container.duration > 0:
        import av

        return container.duration / av.time_base
    return None


def probe(path: str | Path) -> dict[str, Any]:
    """Cheap facts about a file from its headers (no decoding): duration (s, or None when the container does not
    say), codec, channels, sample_rate, format, bit_rate, has_video, size (bytes)."""
    p = _check_file(path)
    container, stream = _open(p)
    try:
        ctx = stream.codec_context
        return {
            "path": str(p),
            "size": p.stat().st_size,
            "format": container.format.name,
            "duration": _stated_duration(container, stream),
            "codec": ctx.name,
            "channels": ctx.channels,
            "sample_rate": stream.sample_rate,
            "bit_rate": container.bit_rate or None,
            "has_video": bool(container.streams.video),
        }
    finally:
        container.close()


def decode(
    path: str | Path,
    *,
    max_seconds: float | None = MAX_SECONDS,
    min_partial_seconds: float = MIN_PARTIAL_SECONDS,
    silence_dbfs: float | None = SILENCE_DBFS,
) -> np.ndarray:
    """The file's first (best) audio stream as 16 kHz mono float32 in [-1, 1].

    Multi-channel audio is mixed down by FFmpeg's resampler. `max_seconds=None` lifts the length limit;
    `silence_dbfs=None` accepts silent audio.
    """
    import av

    p = _check_file(path)
    container, stream = _open(p)
    try:
        stated = _stated_duration(container, stream)
        if max_seconds is not None and stated is not None and stated > max_seconds:
            raise _fail(p, f"too long: {_hms(stated)} (the limit is {_hms(max_seconds)})")
        stream.thread_type = "AUTO"
        limit = None if max_seconds is None else int(max_seconds * SAMPLE_RATE) + SAMPLE_RATE
        # room for what the header promises (at most an hour up front: a header can lie), grown by doubling
        buf = np.empty(int(min(stated or 60.0, 3600.0) * SAMPLE_RATE) + SAMPLE_RATE, dtype=np.float32)
        n = 0
        broken: str | None = None
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        shape = None  # a stream may change its sample rate or layout midway; the resampler cannot

        def add(frames) -> None:
            nonlocal buf, n
            for out in frames:
                samples = out.to_ndarray().reshape(-1)
                if n + samples.size > buf.size:
                    buf = np.concatenate([buf[:n], np.empty(max(buf.size, samples.size), dtype=np.float32)])
                buf[n : n + samples.size] = samples
                n += samples.size
            if limit is not None and n > limit:
                raise _fail(p, f"too long: more than {_hms(max_seconds)} of audio (the limit)")

        try:
            for frame in container.decode(stream):
                now = (frame.format.name, frame.layout.name, frame.sample_rate)
                if shape is not None and now != shape:
                    add(resampler.resample(None))
                    resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
                shape = now
                add(resampler.resample(frame))
        except av.error.FFmpegError as exc:
            broken = _reason(exc)
        try:
            add(resampler.resample(None))
        except av.error.FFmpegError:
            pass
    finally:
        container.close()

    audio = buf[:n].copy() if n < buf.size // 2 else buf[:n]
    got = n / SAMPLE_RATE
    short = stated is not None and got < stated - max(0.5, 0.02 * stated)
    if broken or short:
        what = f"decoding stopped ({broken})" if broken else "the file is truncated"
        detail = f"{what}: decoded {got:.1f} s" + (f" of {stated:.1f} s" if stated else "")
        if got < min_partial_seconds:
            raise _fail(p, f"corrupt or truncated audio: {detail}")
        warnings.warn(f"{p.name}: {detail}", DecodeWarning, stacklevel=2)
    if n == 0:
        raise _fail(p, "no audio could be decoded")
    if silence_dbfs is not None:
        peak = float(np.max(np.abs(audio)))
        if peak <= 0 or 20 * math.log10(peak) < silence_dbfs:
            raise _fail(p, "no speech: the audio is silent")
    return audio


def content_hash(path: str | Path, length: int = 16) -> str:
    """sha256 of the file's bytes, hex, first `length` chars: the episode id (same bytes → same episode)."""
    p = _check_file(path)
    h = hashlib.sha256()
    with p.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:length]


def is_audio_path(path: str | Path) -> bool:
    """Judged by extension only: for picking files out of a folder, not for validating them."""
    return Path(path).suffix.lower() in AUDIO_EXTENSIONS


def _hms(seconds: float) -> str:
    total = int(round(seconds))
    h, rem = divmod(total, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}"
