"""Any recording → 16 kHz mono float32, the one input every ASR backend takes.

PyAV (FFmpeg's libraries, shipped in the `av` wheel) does the demuxing, decoding, down-mixing and resampling in
process: no `ffmpeg` binary, no temp files, and any container FFmpeg knows (wav, mp3, m4a, flac, ogg, opus, webm,
mp4/mov audio tracks…) works the same way.

Errors a user can cause (a missing, empty, corrupt, silent or huge file, or a video without sound) are raised as
one `DecodeError` line that names the file and the reason, so a batch ingest can report it and go on.

Truncated files: FFmpeg decodes what is there. If the file said it was longer than what could be decoded (the
container's duration; a WAV's data-chunk size; an Ogg stream that never reaches its end-of-stream page), or
decoding stopped on corrupt data, the audio is accepted with a note "truncated: decoded X of Y s" when at least
`MIN_PARTIAL_SECONDS` came out, and refused otherwise — a recording cut short is still worth transcribing, a few
hundred milliseconds of it is not. `decode_noted` returns the note (ingest reports it); `decode` issues it as a
`DecodeWarning`. (A stated duration can be an estimate — a VBR mp3 without a Xing header — so the note can be a
false alarm; that is why it is not an error.)

Only regular files are opened: a FIFO, socket or device is refused first (opening a FIFO would wait forever).
"""

from __future__ import annotations

import errno
import hashlib
import math
import os
import stat
import struct
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


def special_file(path: str | Path) -> str | None:
    """Why `path` is not a regular file that can be read (None when it is): missing, a dangling symlink, a
    symlink loop, a folder, a FIFO, a socket or a device. Never opens the file."""
    p = Path(path)
    try:
        mode = os.stat(p).st_mode
    except FileNotFoundError:
        if p.is_symlink():
            return f"dangling symlink (its target {os.readlink(p)} does not exist)"
        return f"file not found ({p})"
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "symlink loop (the link points back at itself)"
        return f"can't read it: {(exc.strerror or str(exc)).lower()}"
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "not a file (a folder)"
    kind = ("a FIFO (named pipe)" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode)
            else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "a special file")
    return f"not a regular file ({kind}): refused without opening it"


def _check_file(path: str | Path) -> Path:
    p = Path(path)
    why = special_file(p)
    if why:
        raise _fail(p, why)
    if p.stat().st_size == 0:
        raise _fail(p, "empty file (0 bytes)")
    return p


# the first bytes of the containers we would expect to read: a file that starts like one but cannot be opened is
# a broken recording, not "not audio"
_MAGIC = {b"RIFF": "WAV", b"OggS": "Ogg", b"fLaC": "FLAC", b"ID3": "MP3", b"FORM": "AIFF", b"\x1aE\xdf\xa3": "Matroska/WebM"}
IMAGE_CODECS = {"png", "mjpeg", "jpeg2000", "bmp", "gif", "webp", "tiff", "ljpeg", "jpegls", "qoi"}


def _looks_like(p: Path) -> str | None:
    with p.open("rb") as f:
        head = f.read(12)
    if head[4:8] == b"ftyp":
        return "MP4/M4A"
    return next((name for magic, name in _MAGIC.items() if head.startswith(magic)), None)


def _open(p: Path):
    """Open a container and pick its audio stream, or raise a DecodeError saying why there is none."""
    import av

    try:
        container = av.open(str(p), metadata_errors="ignore")
    except av.error.FFmpegError as exc:
        kind = _looks_like(p)
        if kind:
            raise _fail(p, f"corrupt or truncated {kind} file: FFmpeg cannot open it ({_reason(exc)})") from None
        raise _fail(p, f"not an audio or video file ({_reason(exc)})") from None
    if not container.streams.audio:
        video = list(container.streams.video)
        fmt = container.format.name or ""
        container.close()
        if video and (fmt.endswith("_pipe") or fmt == "image2" or video[0].codec_context.name in IMAGE_CODECS):
            raise _fail(p, f"not audio: a {video[0].codec_context.name.upper()} image")
        if video:
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
    `silence_dbfs=None` accepts silent audio. A truncated file's note is issued as a DecodeWarning.
    """
    audio, note = decode_noted(path, max_seconds=max_seconds, min_partial_seconds=min_partial_seconds,
                               silence_dbfs=silence_dbfs)
    if note:
        warnings.warn(f"{Path(path).name}: {note}", DecodeWarning, stacklevel=2)
    return audio


def decode_noted(
    path: str | Path,
    *,
    max_seconds: float | None = MAX_SECONDS,
    min_partial_seconds: float = MIN_PARTIAL_SECONDS,
    silence_dbfs: float | None = SILENCE_DBFS,
) -> tuple[np.ndarray, str | None]:
    """`decode`, returning (audio, note): the note is "truncated: decoded X of Y s" for a file cut short, else None.
    Runs under the caller's time budget (ingest.budget)."""
    p = _check_file(path)
    container, stream = _open(p)
    try:
        stated = _stated_duration(container, stream)
        if container.format.name == "wav":
            stated = max(stated or 0.0, _wav_data_seconds(p) or 0.0) or None
        if max_seconds is not None and stated is not None and stated > max_seconds:
            raise _fail(p, f"too long: {_hms(stated)} (the limit is {_hms(max_seconds)})")
        audio, broken = _read_all(p, container, stream, stated, max_seconds)
    finally:
        container.close()

    got = len(audio) / SAMPLE_RATE
    short = stated is not None and got < stated - max(0.5, 0.02 * stated)
    unfinished = container.format.name == "ogg" and not _ogg_finished(p)
    note = None
    if broken or short or unfinished:
        why = f" (decoding stopped: {broken})" if broken else "" if short else " (the stream stops before its end)"
        note = f"truncated: decoded {got:.1f}" + (f" of {stated:.1f} s" if short else " s") + why
        if got < min_partial_seconds:
            raise _fail(p, f"corrupt or truncated audio: {note}")
    if len(audio) == 0:
        raise _fail(p, "no audio could be decoded")
    if silence_dbfs is not None:
        peak = float(np.max(np.abs(audio)))
        if peak <= 0 or 20 * math.log10(peak) < silence_dbfs:
            raise _fail(p, f"no speech: the audio is silent ({got:.0f} s, peak {_dbfs(peak)})")
    return audio, note


def _read_all(p: Path, container, stream, stated: float | None, max_seconds: float | None) -> tuple[np.ndarray, str | None]:
    """Decode and resample every frame: (audio, FFmpeg's reason when decoding stopped on bad data, else None)."""
    import av

    from ingest.budget import check

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
        for i, frame in enumerate(container.decode(stream)):
            if i % 256 == 0:
                check()
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
    return (buf[:n].copy() if n < buf.size // 2 else buf[:n]), broken


def _wav_data_seconds(p: Path) -> float | None:
    """What a WAV's header says its samples last (FFmpeg goes by the file's size, so a cut file looks whole)."""
    try:
        with p.open("rb") as f:
            head = f.read(12)
            if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return None
            rate_bytes = None
            while True:
                chunk = f.read(8)
                if len(chunk) < 8:
                    return None
                cid, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
                if cid == b"fmt ":
                    fmt = f.read(size)
                    rate_bytes = struct.unpack("<I", fmt[8:12])[0]  # byte rate
                    f.seek(size % 2, 1)
                elif cid == b"data":
                    if not rate_bytes or size in (0, 0xFFFFFFFF):  # a streamed WAV: no size written
                        return None
                    return size / rate_bytes
                else:
                    f.seek(size + size % 2, 1)
    except (OSError, struct.error):
        return None


def _ogg_finished(p: Path) -> bool:
    """Whether the file's last Ogg page is whole and marks the end of the stream (a cut Ogg has no other tell)."""
    size = p.stat().st_size
    with p.open("rb") as f:
        f.seek(max(0, size - 65307))  # the largest possible Ogg page
        tail = f.read()
    at = tail.rfind(b"OggS")
    if at < 0 or len(tail) < at + 27:
        return False
    nsegs = tail[at + 26]
    table = tail[at + 27 : at + 27 + nsegs]
    whole = len(table) == nsegs and at + 27 + nsegs + sum(table) == len(tail)
    return whole and bool(tail[at + 5] & 0x04)


def _dbfs(peak: float) -> str:
    return "digital silence" if peak <= 0 else f"{20 * math.log10(peak):.0f} dBFS"


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
