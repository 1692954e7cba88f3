"""ASR speed (real-time factor) and accuracy (WER) for every installed backend and Whisper model, with plain
faster-whisper int8 on the same audio and model in the same run as the yardstick.

Method:
- Audio set: a folder with `asr_manifest.json` (the shared set: `utterances[]` and `long_form[]`, each with `file`
  and reference `text`), or any folder of audio files with optional same-stem `.txt` references. Quick mode takes
  utterances in manifest order until 10 s of speech (the shared set: JFK's 11 s); full mode takes every utterance and the long-form file.
  Every file is decoded once with `ingest.decode.decode` (what ingest does) and the timed part is transcription
  of the 16 kHz float32 array only.
- Models: every ASR pack that is pulled, plus the configured `asr.model`. Backends: every one in `ingest.asr` whose
  library is installed (`mlx` = mlx-whisper, `ctranslate2` = faster-whisper int8 through our wrapper), loaded with
  `ingest.asr.get_asr` — exactly the object ingest uses — and called as ingest calls it
  (`transcribe(audio, language=None, word_timestamps=True)`).
- Plain faster-whisper: `faster_whisper.WhisperModel(<pack>/ct2, compute_type="int8")` with its defaults, and
  `model.transcribe(audio, word_timestamps=True)` consumed to the end — what a user of faster-whisper would write.
- Full mode warms each runner up on 3 s of audio first. Quick mode does not: Whisper pads every call to a 30 s
  window, so a warm-up costs as much as the 11 s file it precedes, and the first call was measured no slower than
  the next ones (mlx-whisper's numba DTW is compiled when the backend loads; CTranslate2 compiles nothing). Then the runners take turns on each file (ours, plain, ours, plain …), so a
  burst of load from other processes hits them alike; the CTranslate2 runners (ours and plain) transcribe each
  file 3 times and the fastest time counts (they are cheap; mlx runs once).
- `rtf` = transcription seconds / audio seconds (lower is faster). `wer` = word errors / reference words over the
  whole set, after lower-casing, spelling numbers as words and dropping punctuation (the references spell
  numbers out). `ingest_vs_faster_whisper_int8` = our transcription time with the backend ingest uses on this
  machine / plain faster-whisper's time on the same files and model (1.0 = same speed, < 1 faster);
  `vs_faster_whisper_int8` is the same ratio for the other backends.
"""

from __future__ import annotations

import importlib.util
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.bench.common import Ctx, word_errors

BENCH = "asr"
QUICK_SECONDS = 10.0
WARMUP_SECONDS = 3.0
PLAIN = "faster-whisper"
CT2_REPEATS = 3


@dataclass
class Clip:
    id: str
    path: Path
    text: str | None  # the reference, if known
    audio: np.ndarray | None = None

    @property
    def seconds(self) -> float:
        return 0.0 if self.audio is None else len(self.audio) / 16000


def default_audio_dir() -> Path | None:
    """`../shared/audio/asr` beside the checkout (or $AUDIORAG_SHARED/audio/asr) when it exists."""
    from rag.runtime import checkout_root

    env = os.environ.get("AUDIORAG_SHARED")
    candidates = [Path(env) / "audio" / "asr"] if env else []
    root = checkout_root()
    if root is not None:
        candidates.append(root.parent / "shared" / "audio" / "asr")
    return next((c for c in candidates if c.is_dir()), None)


def audio_folder(ctx, bench: str) -> Path:
    """The audio a bench reads: `--audio DIR`, else the shared set (default_audio_dir)."""
    folder = Path(ctx.audio_dir) if ctx.audio_dir else default_audio_dir()
    if folder is None or not folder.is_dir():
        raise ValueError(f"no audio for the {bench} bench: pass --audio DIR")
    return folder


def audio_set(folder: Path, quick: bool, max_files: int | None = None) -> list[Clip]:
    """The clips to transcribe, in a fixed order (see the module docstring)."""
    from ingest.decode import is_audio_path

    manifest = folder / "asr_manifest.json"
    clips: list[Clip] = []
    if manifest.is_file():
        data = json.loads(manifest.read_text())
        total = 0.0
        for u in data.get("utterances", []):
            if quick and total >= QUICK_SECONDS:
                break
            clips.append(Clip(u["id"], folder / u["file"], u.get("text")))
            total += float(u.get("duration_s") or 0)
        if not quick:
            clips += [Clip(u["id"], folder / u["file"], u.get("text")) for u in data.get("long_form", [])]
    else:
        for f in sorted(folder.iterdir()):
            if is_audio_path(f) and not f.name.startswith("."):
                ref = f.with_suffix(".txt")
                clips.append(Clip(f.stem, f, ref.read_text().strip() if ref.is_file() else None))
        if quick:
            clips = clips[:4]
    if max_files is not None:
        clips = clips[:max_files]
    if not clips:
        raise ValueError(f"no audio files in {folder}")
    return clips


def installed_backends() -> list[str]:
    from ingest.asr import BACKENDS

    libs = {"mlx": "mlx_whisper", "ctranslate2": "faster_whisper"}
    return [b for b in BACKENDS if importlib.util.find_spec(libs.get(b, b)) is not None]


def installed_models(settings) -> list[str]:
    """Pulled ASR packs, plus the configured model (first), without duplicates."""
    from rag.models import PACKS
    from rag.models.pull import read_manifest

    models = [settings.asr.model]
    for name, pack in PACKS.items():
        if pack.role == "asr" and name not in models and read_manifest(name, settings.models_path) is not None:
            models.append(name)
    return models


def settings_for(settings, model: str):
    return settings.model_copy(update={"asr": settings.asr.model_copy(update={"model": model})})


def ct2_folder(settings, model: str) -> Path | None:
    from ingest.asr import model_folder
    from rag.models.resolve import resolve_model

    try:
        folder = model_folder(resolve_model(model, "asr", settings), "ctranslate2")
    except Exception:  # noqa: BLE001 — a model without a CTranslate2 copy just has no plain comparison
        return None
    return folder if isinstance(folder, Path) else None


def repeats(runner: str) -> int:
    """How often each file is transcribed by a runner (the fastest time counts): CTranslate2 is cheap enough to
    repeat, which makes the ours/plain ratio robust to bursts of load from other processes; mlx runs once."""
    return 1 if runner == "mlx" else CT2_REPEATS


def _ours(asr):
    def run(audio: np.ndarray) -> str:
        t = asr.transcribe(audio, language=None, word_timestamps=True)
        return " ".join(s.text for s in t.segments)

    return run


def _plain(folder: Path):
    from faster_whisper import WhisperModel

    model = WhisperModel(str(folder), compute_type="int8")

    def run(audio: np.ndarray) -> str:
        segments, _info = model.transcribe(audio, word_timestamps=True)
        return " ".join(s.text.strip() for s in segments)

    return run


def run(ctx: Ctx) -> list[dict]:
    from ingest.asr import choose_backend, get_asr
    from ingest.decode import decode

    folder = Path(ctx.audio_dir) if ctx.audio_dir else default_audio_dir()
    if folder is None or not folder.is_dir():
        raise ValueError("no ASR audio set: pass --audio DIR (a folder of audio files with .txt references)")
    clips = audio_set(folder, ctx.quick, ctx.asr_files)
    ctx.say(f"asr: decoding {len(clips)} file(s) from {folder}", 0.0)
    for c in clips:
        c.audio = decode(c.path)
    audio_s = sum(c.seconds for c in clips)
    warm = min(clips, key=lambda c: c.seconds).audio[: int(WARMUP_SECONDS * 16000)]
    backends = installed_backends()
    ingest_backend = choose_backend(ctx.settings.asr.backend)
    models = ctx.asr_models or installed_models(ctx.settings)
    set_note = f"{len(clips)} file(s), {audio_s:.1f} s of audio from {folder.name}"
    rows: list[dict] = []
    for mi, model in enumerate(models):
        ms = settings_for(ctx.settings, model)
        runners: dict[str, object] = {}
        load_s: dict[str, float] = {}
        frac = mi / len(models)
        for b in backends:
            ctx.say(f"asr: loading {model} on {b}", frac)
            t0 = time.perf_counter()
            runners[b] = _ours(get_asr(ms, backend=b))
            load_s[b] = time.perf_counter() - t0
        plain_dir = ct2_folder(ms, model) if importlib.util.find_spec("faster_whisper") else None
        if plain_dir is not None:
            t0 = time.perf_counter()
            runners[PLAIN] = _plain(plain_dir)
            load_s[PLAIN] = time.perf_counter() - t0
        for name, fn in runners.items():
            if not ctx.quick:
                ctx.say(f"asr: warming up {model} on {name}", frac)
                fn(warm)
        secs = {name: 0.0 for name in runners}
        errs = {name: [0, 0] for name in runners}
        for ci, clip in enumerate(clips):
            best = {name: float("inf") for name in runners}
            for rnd in range(max(repeats(name) for name in runners)):
                for name, fn in runners.items():
                    if rnd >= repeats(name):
                        continue
                    ctx.say(f"asr: {model} on {name}: {clip.id} ({clip.seconds:.1f} s)"
                            + (f", round {rnd + 1}" if repeats(name) > 1 else ""),
                            frac + (ci + 0.5) / len(clips) / len(models))
                    t0 = time.perf_counter()
                    hyp = fn(clip.audio)
                    best[name] = min(best[name], time.perf_counter() - t0)
                    if clip.text and rnd == 0:
                        e, n = word_errors(clip.text, hyp)
                        errs[name][0] += e
                        errs[name][1] += n
            for name in runners:
                secs[name] += best[name]
        for name in runners:
            is_plain = name == PLAIN
            how = ("plain faster_whisper.WhisperModel(compute_type='int8'), defaults, word_timestamps=True" if is_plain
                   else f"ingest.asr.get_asr(backend='{name}'), word_timestamps=True")
            note = f"{set_note}; {how}"
            rows.append(ctx.row(BENCH, "rtf", secs[name] / audio_s, "x realtime", name, model, note))
            e, n = errs[name]
            if n:
                rows.append(ctx.row(BENCH, "wer", e / n, "fraction", name, model,
                                    f"{e} errors / {n} reference words; normalised (numbers as words)"))
            rows.append(ctx.row(BENCH, "transcribe_s", secs[name], "s", name, model, note))
            rows.append(ctx.row(BENCH, "load_s", load_s[name], "s", name, model,
                                "0 when this process had it loaded already" if not is_plain else ""))
        rows.append(ctx.row(BENCH, "audio_s", audio_s, "s", "", model, set_note))
        if PLAIN in secs and secs[PLAIN] > 0:
            for b in backends:
                metric = "ingest_vs_faster_whisper_int8" if b == ingest_backend else "vs_faster_whisper_int8"
                who = "the backend ingest uses here" if b == ingest_backend else "not ingest's backend here"
                rows.append(ctx.row(BENCH, metric, secs[b] / secs[PLAIN], "ratio", b, model,
                                    f"our {b} transcription time / plain faster-whisper int8 time, same {len(clips)} "
                                    f"file(s) and model, one run ({who}; < 1 = we are faster)"))
    ctx.say("asr: done", 1.0)
    return rows
