"""ingest.decode on real files made by ffmpeg / espeak-ng: every container, and every way a file can be bad."""

from __future__ import annotations

import shutil
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pytest

from ingest.decode import SAMPLE_RATE, DecodeError, DecodeWarning, content_hash, decode, probe

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs the ffmpeg binary to make test files")

SECONDS = 3.0
TONE = f"sine=frequency=440:duration={SECONDS}:sample_rate=44100"


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("media")
    ffmpeg("-f", "lavfi", "-i", TONE, str(d / "tone.wav"))
    src = str(d / "tone.wav")
    ffmpeg("-i", src, "-c:a", "libmp3lame", str(d / "tone.mp3"))
    ffmpeg("-i", src, "-c:a", "aac", str(d / "tone.m4a"))
    ffmpeg("-i", src, "-c:a", "flac", str(d / "tone.flac"))
    ffmpeg("-i", src, "-c:a", "libvorbis", str(d / "tone.ogg"))
    ffmpeg("-i", src, "-c:a", "libopus", str(d / "tone.opus"))
    ffmpeg("-i", src, "-c:a", "libopus", str(d / "tone.webm"))
    video = ["-f", "lavfi", "-i", f"testsrc=size=64x48:rate=10:duration={SECONDS}"]
    ffmpeg(*video, "-i", src, "-c:v", "mpeg4", "-c:a", "aac", "-shortest", str(d / "tone.mp4"))
    ffmpeg(*video, "-i", src, "-c:v", "mpeg4", "-c:a", "pcm_s16le", "-shortest", str(d / "tone.mov"))
    ffmpeg(*video, "-c:v", "mpeg4", str(d / "mute.mp4"))
    return d


@pytest.mark.parametrize("ext", ["wav", "mp3", "m4a", "flac", "ogg", "opus", "webm", "mp4", "mov"])
def test_each_format_decodes_to_16k_mono_float32(media, ext):
    audio = decode(media / f"tone.{ext}")
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert abs(len(audio) / SAMPLE_RATE - SECONDS) <= 0.1
    # the 440 Hz tone survives: its spectrum peaks at 440 Hz (a wrong sample rate would move it)
    spectrum = np.abs(np.fft.rfft(audio[: SAMPLE_RATE * 2]))
    assert abs(np.argmax(spectrum) * SAMPLE_RATE / (SAMPLE_RATE * 2) - 440) < 5
    assert 0.1 < float(np.max(np.abs(audio))) <= 1.0  # lavfi sine has amplitude 1/8


def test_probe_reads_headers(media):
    info = probe(media / "tone.mp4")
    assert info["codec"] == "aac" and info["channels"] == 1 and info["has_video"] is True
    assert abs(info["duration"] - SECONDS) < 0.1
    assert info["sample_rate"] == 44100 and info["size"] == (media / "tone.mp4").stat().st_size


def test_stereo_is_mixed_down(tmp_path):
    # left: 440 Hz, right: 1000 Hz → the mono mix has both
    path = tmp_path / "stereo.flac"
    ffmpeg("-f", "lavfi", "-i", "aevalsrc=sin(440*2*PI*t)|sin(1000*2*PI*t):d=2:s=48000", str(path))
    assert probe(path)["channels"] == 2
    audio = decode(path)
    assert audio.ndim == 1 and abs(len(audio) / SAMPLE_RATE - 2.0) <= 0.1
    spectrum = np.abs(np.fft.rfft(audio[:SAMPLE_RATE]))  # 1 s → 1 Hz bins
    top2 = sorted(int(i) for i in np.argsort(spectrum)[-2:])
    assert top2 == [440, 1000]


def test_truncated_mp3_decodes_partially_with_a_warning(media, tmp_path):
    data = (media / "tone.mp3").read_bytes()
    half = tmp_path / "half.mp3"
    half.write_bytes(data[: len(data) // 2])
    with pytest.warns(DecodeWarning, match="truncated"):
        audio = decode(half)
    assert 1.0 <= len(audio) / SAMPLE_RATE < SECONDS - 0.5


def test_truncated_to_under_a_second_is_an_error(media, tmp_path):
    data = (media / "tone.mp3").read_bytes()
    stub = tmp_path / "stub.mp3"
    stub.write_bytes(data[:3000])
    with pytest.raises(DecodeError, match=r"^stub\.mp3: corrupt or truncated"):
        decode(stub)


def test_zero_byte_file(tmp_path):
    empty = tmp_path / "empty.wav"
    empty.touch()
    with pytest.raises(DecodeError, match=r"^empty\.wav: empty file"):
        decode(empty)


def test_missing_file(tmp_path):
    with pytest.raises(DecodeError, match="file not found"):
        decode(tmp_path / "nothing.mp3")
    with pytest.raises(DecodeError, match="not a file"):
        decode(tmp_path)


def test_text_renamed_wav(tmp_path):
    fake = tmp_path / "notes.wav"
    fake.write_text("These are meeting notes, not audio.\n" * 20)
    with pytest.raises(DecodeError, match=r"^notes\.wav: not an audio or video file"):
        decode(fake)
    with pytest.raises(DecodeError, match="not an audio or video file"):
        probe(fake)


def test_video_without_sound(media):
    with pytest.raises(DecodeError, match=r"^mute\.mp4: no audio stream"):
        decode(media / "mute.mp4")


def test_silent_audio(tmp_path):
    silent = tmp_path / "silent.wav"
    ffmpeg("-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono", "-t", "2", str(silent))
    with pytest.raises(DecodeError, match="no speech: the audio is silent"):
        decode(silent)
    assert len(decode(silent, silence_dbfs=None)) == 2 * SAMPLE_RATE


def test_too_long(media):
    with pytest.raises(DecodeError, match="too long"):
        decode(media / "tone.wav", max_seconds=1.0)
    assert len(decode(media / "tone.wav", max_seconds=None)) == SECONDS * SAMPLE_RATE


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng")
@pytest.mark.parametrize("name", ["café – ß 日本.wav", 'it\'s a "quoted" name $HOME.wav', " spaced  out .wav"])
def test_awkward_file_names(tmp_path, name):
    path = tmp_path / name
    subprocess.run(["espeak-ng", "-w", str(path), "Hello from a file with an awkward name."], check=True)
    info = probe(path)
    audio = decode(path)
    assert abs(len(audio) / SAMPLE_RATE - info["duration"]) <= 0.1 and len(audio) > SAMPLE_RATE
    broken = path.with_name("x " + name)
    broken.write_bytes(b"\x00" * 10)
    with pytest.raises(DecodeError) as err:
        decode(broken)
    assert str(err.value).startswith(broken.name + ": ")


def test_content_hash_is_of_the_bytes(media, tmp_path):
    copy = tmp_path / "other name.wav"
    copy.write_bytes((media / "tone.wav").read_bytes())
    assert content_hash(copy) == content_hash(media / "tone.wav")
    assert len(content_hash(copy)) == 16 and int(content_hash(copy), 16) >= 0
    assert content_hash(media / "tone.mp3") != content_hash(copy)


def test_no_warning_for_a_whole_file(media):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        decode(media / "tone.mp3")


def test_real_long_recording(asr_manifest):
    from tests.conftest import ASR_DIR

    long_form = asr_manifest["long_form"][0]
    path = ASR_DIR / long_form["file"]
    audio = decode(path)
    assert abs(len(audio) / SAMPLE_RATE - long_form["duration_s"]) < 0.01
    assert probe(path)["duration"] == pytest.approx(long_form["duration_s"], abs=0.01)


def test_stream_that_changes_sample_rate_midway(tmp_path):
    """Concatenated MPEG-TS parts (a common broadcast/recorder output) switch from 44.1 to 22.05 kHz mid-stream."""
    parts = []
    for k, (freq, rate) in enumerate([(440, 44100), (880, 22050)]):
        part = tmp_path / f"p{k}.ts"
        ffmpeg("-f", "lavfi", "-i", f"sine=frequency={freq}:duration=2:sample_rate={rate}", "-c:a", "mp2", str(part))
        parts.append(part.read_bytes())
    joined = tmp_path / "joined.ts"
    joined.write_bytes(b"".join(parts))
    audio = decode(joined)
    assert abs(len(audio) / SAMPLE_RATE - 4.0) <= 0.1
    second = np.abs(np.fft.rfft(audio[-SAMPLE_RATE:]))  # the last second is the 880 Hz part
    assert abs(int(np.argmax(second)) - 880) <= 2
