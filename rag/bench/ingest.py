"""End-to-end ingest of one recording: where the time goes, stage by stage.

Method:
- The recording: the audio set's long-form file (the 231 s LJSpeech reading in the shared set), or the longest
  file in `--audio DIR`. Quick mode cuts it to its first 60 s (written as a 16 kHz WAV in a temp folder); full
  mode uses all of it.
- A throw-away library (a temp data dir with the same models and backends as the settings) and
  `ingest.pipeline.Pipeline(settings).ingest_item(item)` — the code `audiorag ingest` runs. The ASR model and
  the embedder are loaded before the clock starts (`load_s`, reported separately), so the stage times are the
  steady state of a batch, not the first file's model loading.
- The pipeline reports seconds per stage (`Result.stages`: decode, transcribe, chunk, embed, store, …); whatever
  the stages do not cover (hashing the file, looking it up in the library) is `other`. Each stage is reported
  in seconds and as a share of the total; `rtf` = total seconds / audio seconds.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path

from rag.bench.common import Ctx

BENCH = "ingest"
QUICK_SECONDS = 60.0


def pick_recording(folder: Path) -> Path:
    manifest = folder / "asr_manifest.json"
    if manifest.is_file():
        long_form = json.loads(manifest.read_text()).get("long_form") or []
        if long_form:
            return folder / long_form[0]["file"]
    from ingest.decode import is_audio_path

    files = [f for f in folder.rglob("*") if is_audio_path(f)]
    if not files:
        raise ValueError(f"no audio files in {folder}")
    return max(files, key=lambda f: f.stat().st_size)


def run(ctx: Ctx) -> list[dict]:
    from ingest.asr import choose_backend
    from ingest.pipeline import Item, Pipeline

    from rag.bench.asr import audio_folder

    folder = audio_folder(ctx, BENCH)
    source = pick_recording(folder)
    tmp = Path(tempfile.mkdtemp(prefix="audiorag-bench-ingest-"))
    try:
        path = source
        if ctx.quick:
            from ingest.asr.openai import wav_bytes
            from ingest.decode import SAMPLE_RATE, decode

            audio = decode(source)
            if len(audio) > QUICK_SECONDS * SAMPLE_RATE:
                path = tmp / f"{source.stem}_first{int(QUICK_SECONDS)}s.wav"
                path.write_bytes(wav_bytes(audio[: int(QUICK_SECONDS * SAMPLE_RATE)]))
        settings = ctx.settings.model_copy(update={"data_dir": str(tmp / "data")})
        ctx.say(f"ingest: loading models for {path.name}", 0.0)
        pipe = Pipeline(settings)
        t0 = time.perf_counter()
        _ = pipe.asr, pipe.embedder
        load_s = time.perf_counter() - t0

        def on_stage(stage: str, fraction: float) -> None:
            ctx.say(f"ingest: {stage}", 0.1 + 0.9 * fraction)

        res = pipe.ingest_item(Item(path, "audio"), on_stage=on_stage, force=True)
        if res.status != "ingested":
            raise RuntimeError(f"ingest of {path.name} {res.status}: {res.reason}")
        duration = float(res.duration or 0.0)
        stages = dict(res.stages)
        stages["other"] = max(0.0, res.seconds - sum(stages.values()))
        total = res.seconds
        backend = choose_backend(settings.asr.backend)
        model = settings.asr.model
        note = f"{path.name}, {duration:.1f} s of audio; embed {settings.embed.model}; models loaded beforehand"
        rows = [
            ctx.row(BENCH, "total_s", total, "s", backend, model, note),
            ctx.row(BENCH, "rtf", total / duration if duration else float("nan"), "x realtime", backend, model, note),
            ctx.row(BENCH, "audio_s", duration, "s", backend, model, note),
            ctx.row(BENCH, "load_s", load_s, "s", backend, model, "ASR model + embedder, before the clock starts"),
        ]
        for stage, secs in stages.items():
            rows.append(ctx.row(BENCH, f"stage_s:{stage}", secs, "s", backend, model, note))
            rows.append(ctx.row(BENCH, f"stage_share:{stage}", 100.0 * secs / total if total else float("nan"), "%",
                                backend, model, note))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    ctx.say("ingest: done", 1.0)
    return rows
