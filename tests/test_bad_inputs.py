"""Issue 18, budgets and honest reports: a bad-input corpus built here with espeak-ng, sox and ffmpeg, ingested
as one batch by the real CLI (real whisper, real MiniLM, real LanceDB). Every entry gets exactly one line with its
true reason; the batch finishes (its time is recorded in docs/benchmarks.md, not asserted here)."""

from __future__ import annotations

import json
import os
import random
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow

SPEECH = "The quarterly budget meeting starts at nine in the morning, and everyone brings their own notes."
SRT_CUE = "1\n00:00:01,000 --> 00:00:03,500\nThe harbour opens at six.\n"


def run(*cmd: str) -> None:
    subprocess.run(cmd, check=True, capture_output=True)


def cut(src: Path, dst: Path, fraction: float = 0.5) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * fraction)])
    return dst


class Corpus:
    """The folder being built, and for each entry name: (expected status, a regex its one-line reason must match)."""

    def __init__(self, folder: Path) -> None:
        self.dir, self.expect = folder, {}

    def case(self, name: str, status: str, reason: str) -> Path:
        self.expect[name] = (status, reason)
        return self.dir / name


def build_corpus(d: Path, work: Path) -> dict[str, tuple[str, str]]:
    speech = work / "speech.wav"
    run("espeak-ng", "-w", str(speech), SPEECH)
    for ext in ("ogg", "mp3", "flac", "m4a", "opus"):
        run("ffmpeg", "-loglevel", "error", "-y", "-i", str(speech), str(work / f"speech.{ext}"))
    corpus = Corpus(d)
    audio_cases(corpus, work)
    special_cases(corpus)
    transcript_cases(corpus)
    return corpus.expect


def audio_cases(c: Corpus, work: Path) -> None:
    d, case, speech = c.dir, c.case, work / "speech.wav"
    run("espeak-ng", "-w", str(case("good.wav", "ingested", r"^$")), SPEECH)
    for ext in ("wav", "mp3", "flac"):
        cut(work / f"speech.{ext}", case(f"truncated.{ext}", "ingested", r"^truncated: decoded \d+\.\d of \d+\.\d s$"))
    for ext in ("ogg", "opus"):
        cut(work / f"speech.{ext}", case(f"truncated.{ext}", "ingested",
                                         r"^truncated: decoded \d+\.\d s \(the stream stops before its end\)$"))
    cut(work / "speech.m4a", case("truncated.m4a", "failed", r"^truncated\.m4a: corrupt or truncated MP4/M4A file"))
    cut(work / "speech.mp3", case("stub.mp3", "failed", r"^stub\.mp3: corrupt or truncated audio"), 0.02)
    case("header-only.wav", "failed", r"^header-only\.wav: (corrupt or truncated|no audio)").write_bytes(
        speech.read_bytes()[:44])
    case("empty.wav", "failed", r"^empty file \(0 bytes\)$").write_bytes(b"")
    case("empty.mp3", "failed", r"^empty file \(0 bytes\)$").write_bytes(b"")
    case("notes.wav", "failed", r"^notes\.wav: not an audio or video file").write_text("meeting notes\n" * 50)
    run("ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=size=64x64:duration=0.04", "-frames:v", "1",
        "-f", "image2", "-c:v", "png", str(case("picture.m4a", "failed", r"^picture\.m4a: not audio: a PNG image$")))
    run("ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=size=64x64:duration=0.04", "-frames:v", "1",
        "-f", "image2", "-c:v", "mjpeg", str(case("photo.mp3", "failed", r"^photo\.mp3: not audio: a MJPEG image$")))
    run("sox", "-n", "-r", "16000", "-c", "1", str(case("silent-1h.flac", "failed",
        r"^silent-1h\.flac: no speech: the audio is silent \(3600 s")), "trim", "0", "3600")
    run("sox", "-n", "-r", "16000", "-c", "1", str(case("hiss.wav", "failed", r"no speech: the audio is silent")),
        "synth", "5", "whitenoise", "vol", "0.0003")
    run("ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=size=64x64:rate=5:duration=1",
        str(case("mute.mp4", "failed", r"^mute\.mp4: no audio stream \(a video without sound\?\)$")))
    case("noise.ogg", "failed", r"^noise\.ogg: (not an audio|corrupt or truncated)").write_bytes(
        random.Random(1).randbytes(20_000))
    locked = case("locked.wav", "failed", r"^Can't use .*locked\.wav: permission denied$")
    if os.geteuid() != 0:
        locked.write_bytes(speech.read_bytes())
        locked.chmod(0)
    else:  # root reads any file, except a write-only kernel attribute (sysfs refuses reading it to anyone)
        write_only = sorted(Path("/sys/bus").glob("*/drivers_probe"))
        if write_only:
            locked.symlink_to(write_only[0])
        else:
            del c.expect["locked.wav"]


def special_cases(c: Corpus) -> None:
    """Entries that are not regular files, refused before they are opened, and others a scan passes over."""
    d, case = c.dir, c.case
    (d / "sub").mkdir()
    os.mkfifo(case("fifo.wav", "skipped", r"^not a regular file \(a FIFO \(named pipe\)\)"))
    os.mkfifo(case("fifo.srt", "skipped", r"^not a regular file \(a FIFO \(named pipe\)\)"))
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(case("ipc.sock", "skipped", r"^not a regular file \(a socket\)")))
    sock.close()
    case("dangling.wav", "skipped", r"^dangling symlink \(its target .*gone\.wav does not exist\)$").symlink_to(
        d / "gone.wav")
    case("loop.wav", "skipped", r"^symlink loop").symlink_to(d / "loop.wav")
    c.expect["sub"] = ("skipped", r"^a folder \(add --recursive")
    case("linked", "skipped", r"^a link to a folder: not followed").symlink_to(d / "sub")
    case("slides.pdf", "skipped", r"^not an audio or transcript file \(\.pdf\)$").write_bytes(b"%PDF-1.4\n")
    case("NOTES", "skipped", r"^not an audio or transcript file \(no extension\)$").write_text("x")
    case("readme.txt", "skipped", r"^not a transcript \(a README or licence\)$").write_text("read me")
    (d / ".hidden.wav").write_bytes(b"")  # hidden entries are not the library's business: no line


def transcript_cases(c: Corpus) -> None:
    case = c.case
    case("poison.json", "failed", r"^poison\.json: segment 0 \('poison'\): its start time is not a number \(nan\)$"
         ).write_text('{"segments": [{"start": NaN, "end": Infinity, "text": "poison"}]}')
    case("negative.json", "failed", r"^negative\.json: segment 1 \('later'\): its start time is negative").write_text(
        json.dumps({"segments": [{"start": 0, "end": 1, "text": "first"}, {"start": -4, "end": 2, "text": "later"}]}))
    case("unsorted.json", "failed", r"^unsorted\.json: segment 1 \('b'\): starts at 1\.000 s, before .*not sorted$"
         ).write_text(json.dumps([{"start": 5, "end": 6, "text": "a"}, {"start": 1, "end": 2, "text": "b"}]))
    case("no-text.json", "failed", r"^no-text\.json: segment 0 has no text$").write_text('[{"start": 0, "end": 1}]')
    case("malformed.json", "skipped", r"^not a transcript \(not valid JSON \(line 1: ").write_text('{"segments": [')
    case("manifest.json", "skipped", r"^not a transcript \(not a Whisper transcript").write_text('{"files": ["a"]}')
    case("numbers.json", "skipped", r"^not a transcript \(not a Whisper transcript: each segment").write_text("[1, 2]")
    case("empty.json", "skipped", r"^not a transcript \(empty file\)$").write_text("")
    case("nothing.srt", "failed", r"^empty file \(0 bytes\)$").write_text("")
    case("blank.vtt", "failed", r"^blank\.vtt: empty file$").write_text(" \n\n \n")
    case("prose.srt", "failed", r"^prose\.srt: no SRT cues found$").write_text("Just some words.\nNo timings.\n")
    case("reversed.srt", "failed", r"^reversed\.srt: cue at 9\.000 s ends before it starts$").write_text(
        "1\n00:00:09,000 --> 00:00:02,000\nBackwards.\n")
    case("header.vtt", "failed", r"^header\.vtt: not a WebVTT file").write_text("00:01.000 --> 00:02.000\nHi\n")
    case("nocues.vtt", "failed", r"^nocues\.vtt: no WebVTT cues found$").write_text("WEBVTT\n\nNOTE nothing here\n")
    case("binary.srt", "failed", r"^binary\.srt: ").write_bytes(random.Random(2).randbytes(5000))
    case("utf32le.srt", "ingested", r"^$").write_bytes(b"\xff\xfe\x00\x00" + SRT_CUE.encode("utf-32-le"))
    case("utf32be.srt", "ingested", r"^$").write_bytes(b"\x00\x00\xfe\xff" + SRT_CUE.replace("six", "seven")
                                                       .encode("utf-32-be"))
    line = "the committee will now hear the report on the harbour budget and the ferry timetable\n"
    case("huge.txt", "failed", r"^too big to import: 20\.\d MB \(the budget is 16 MB, setting ingest\.max_transcr"
         ).write_text(line * (20_000_000 // len(line) + 1))
    case("wordy.txt", "failed", r"^too long to import: [\d,]+ words \(the budget is 200,000, setting ingest\.max_tr"
         ).write_text(line * (1_600_000 // len(line)))
    case("spaces.txt", "failed", r"^spaces\.txt: empty file$").write_text("   \n\t\n")
    # a transcript beside its recording: the transcript wins, and the audio's line says so truly
    run("espeak-ng", "-w", str(case("talk.wav", "skipped", r"^its transcript beside it \(talk\.srt\) is imported")),
        "The harbour opens at six. " + SPEECH)
    case("talk.srt", "ingested", r"^$").write_text(SRT_CUE)
    case("zero.wav", "skipped", r"^not ingested: its transcript beside it \(zero\.srt\) failed: empty file").write_bytes(b"")
    case("zero.srt", "failed", r"^empty file \(0 bytes\)$").write_bytes(b"")
    run("espeak-ng", "-w", str(case("short.wav", "skipped", r"^not ingested: its transcript beside it \(short\.srt\)"
                                    r" failed: short\.srt: segment 0 \('Far too late\.'\): ends at 64\.000 s, after the "
                                    r"recording ends")), "Short.")
    case("short.srt", "failed", r"^short\.srt: segment 0 .*after the recording ends").write_text(
        "1\n00:01:00,000 --> 00:01:04,000\nFar too late.\n")


def test_bad_input_batch_reports_every_entry_in_one_line(tmp_path, pack, models_dir, artifacts):
    for name in ("whisper-tiny.en", "all-minilm-l6-v2"):
        pack(name)
    corpus, work = tmp_path / "corpus", tmp_path / "work"
    corpus.mkdir()
    work.mkdir()
    expect = build_corpus(corpus, work)
    # named on the command line with a leading dash, bare and after `--`
    run("espeak-ng", "-w", str(work / "-dash.wav"), SPEECH.replace("nine", "ten"))
    (work / "--after.srt").write_text(SRT_CUE.replace("six", "five"))
    expect |= {"-dash.wav": ("ingested", r"^$"), "--after.srt": ("ingested", r"^$"),
               "zero": ("failed", r"^not a regular file \(a device\): refused without opening it$")}  # /dev/zero
    assert len(expect) >= 40
    env = {**os.environ, "PYTHONPATH": str(ROOT), "AUDIORAG_DATA_DIR": str(tmp_path / "data"),
           "AUDIORAG_MODELS_DIR": str(models_dir), "AUDIORAG_CONFIG": str(tmp_path / "none.toml")}
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "rag.cli", "ingest", "--json", str(corpus), "/dev/zero", "-dash.wav",
                        "--", "--after.srt"], capture_output=True, text=True, env=env, cwd=work, timeout=600)
    seconds = time.perf_counter() - t0
    (artifacts / "bad_inputs_batch.txt").write_text(f"{len(expect)} entries in {seconds:.1f} s (under load)\n")
    assert "Traceback" not in r.stderr, r.stderr[-3000:]
    report = json.loads(r.stdout)
    names = [Path(x["path"]).name for x in report["results"]]
    assert sorted(names) == sorted(expect), "every entry reported exactly once"
    wrong = []
    for x in report["results"]:
        name = Path(x["path"]).name
        status, pattern = expect[name]
        reason = x["reason"] or ""
        # a failure's line is capitalised (rag.errors.display): the patterns are written as the message begins
        if x["status"] != status or "\n" in reason or not re.search(pattern, reason, re.IGNORECASE):
            wrong.append(f"{name}: {x['status']} — {reason!r} (expected {status} — {pattern})")
    assert not wrong, "\n".join(wrong)
    assert r.returncode == 1
    # stderr: one line per entry not ingested, the failures listed again at the end
    lines = r.stderr.splitlines()
    for x in report["results"]:
        if x["status"] in ("skipped", "failed"):
            assert any(x["path"] in ln and x["reason"] in ln for ln in lines), x


def test_os_errors_are_one_plain_line(tmp_path):
    """The line for the OS errors a real open() gives: a folder opened as a file, and a PermissionError as the OS
    raises it (the batch above meets a real one too: an unreadable file, or as root a write-only sysfs file)."""
    from rag.errors import display

    try:
        open(tmp_path)  # noqa: SIM115 — IsADirectoryError, a real OSError from the OS
    except OSError as exc:
        assert display(exc) == f"Can't use {tmp_path}: is a directory"
    assert display(PermissionError(13, "Permission denied", "/x/locked.wav")) == \
        "Can't use /x/locked.wav: permission denied"


def test_time_budgets_stop_a_stage_with_one_line(tmp_path, settings, pack):
    """A budget of a microsecond is over by the first check: decoding, transcription (the CTranslate2 segment loop)
    and a transcript import's embedding each stop there, and the file fails with one line naming the setting."""
    from ingest.budget import BudgetExceeded, budget
    from ingest.decode import decode_noted
    from ingest.pipeline import Item, Pipeline

    for name in (settings.asr.model, settings.embed.model):
        pack(name)
    wav = tmp_path / "talk.wav"
    run("espeak-ng", "-w", str(wav), SPEECH)
    with budget(1e-6, "a test"), pytest.raises(BudgetExceeded, match=r"^stopped after 1e-06 s: over the time budget"):
        decode_noted(wav)
    assert len(decode_noted(wav)[0]) > 16000  # outside any budget nothing stops it
    srt = tmp_path / "talk.srt"
    srt.write_text(SRT_CUE)
    for field, item in (("decode_timeout_s", Item(wav, "audio", audio=wav)),
                        ("transcribe_timeout_s", Item(wav, "audio", audio=wav)),
                        ("import_timeout_s", Item(srt, "transcript"))):
        limited = settings.model_copy(update={"ingest": settings.ingest.model_copy(update={field: 1e-6})})
        res = Pipeline(limited).ingest_item(item)
        assert (res.status, res.reason) == ("failed", f"Stopped after 1e-06 s: over the time budget (ingest.{field})")
    assert Pipeline(settings).ingest_item(Item(srt, "transcript")).status == "ingested"


def test_app_ingest_rows_tell_truncation_and_a_failed_transcript(settings, pack, tmp_path):
    """The web app's ingest table (ui.backend, as the Ingest tab shows it) carries the same true reasons."""
    from ui.backend import Backend

    for name in (settings.asr.model, settings.embed.model):
        pack(name)
    whole = tmp_path / "whole.wav"
    run("espeak-ng", "-w", str(whole), SPEECH)
    half = cut(whole, tmp_path / "half.wav")
    talk = tmp_path / "talk.wav"
    run("espeak-ng", "-w", str(talk), "Short.")
    (tmp_path / "talk.srt").write_text("1\n00:01:00,000 --> 00:01:04,000\nFar too late.\n")
    *_, rows = Backend(settings).ingest([str(half), str(talk), str(tmp_path / "talk.srt")])
    by = {r["name"]: r for r in rows}
    assert by["half.wav"]["status"] == "ingested"
    assert re.fullmatch(r"truncated: decoded \d+\.\d of \d+\.\d s", by["half.wav"]["reason"])
    assert by["talk.srt"]["status"] == "failed" and "after the recording ends" in by["talk.srt"]["reason"]
    assert by["talk.wav"]["status"] == "skipped"
    assert by["talk.wav"]["reason"].startswith("not ingested: its transcript beside it (talk.srt) failed: ")


def test_transcribe_says_truncated_or_silent_in_one_line(tmp_path, pack, models_dir):
    """`audiorag transcribe` on half an mp3: the transcript and one warning line (no Python warning text); on a
    silent file: one error line, before any model loads."""
    pack("whisper-tiny.en")
    whole = tmp_path / "whole.wav"
    run("espeak-ng", "-w", str(whole), SPEECH)
    run("ffmpeg", "-loglevel", "error", "-i", str(whole), str(tmp_path / "whole.mp3"))
    half = cut(tmp_path / "whole.mp3", tmp_path / "half.mp3")
    env = {**os.environ, "AUDIORAG_MODELS_DIR": str(models_dir), "AUDIORAG_CONFIG": str(tmp_path / "none.toml"),
           "AUDIORAG_DATA_DIR": str(tmp_path / "data")}
    r = subprocess.run([sys.executable, "-m", "rag.cli", "transcribe", str(half), "-f", "srt"], capture_output=True,
                       text=True, env=env, cwd=ROOT, timeout=600)
    assert r.returncode == 0 and "-->" in r.stdout and "meeting" in r.stdout.lower(), r.stderr
    warned = [ln for ln in r.stderr.splitlines() if ": truncated" in ln]
    assert len(warned) == 1 and re.fullmatch(r"warning: half\.mp3: truncated: decoded \d+\.\d of \d+\.\d s", warned[0])
    assert "DecodeWarning" not in r.stderr
    silent = tmp_path / "quiet.flac"
    run("sox", "-n", "-r", "16000", "-c", "1", str(silent), "trim", "0", "60")
    r = subprocess.run([sys.executable, "-m", "rag.cli", "transcribe", str(silent)], capture_output=True, text=True,
                       env=env, cwd=ROOT, timeout=600)
    assert r.returncode == 1 and r.stdout == ""
    assert re.fullmatch(r"error: quiet\.flac: no speech: the audio is silent \(60 s, peak digital silence\)\n",
                        r.stderr, re.IGNORECASE), r.stderr
