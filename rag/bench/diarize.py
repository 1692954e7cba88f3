"""Speaker diarization: DER and speed per recording, speaker counts, and what diarization adds to an ingest.

Method:
- The recordings: `../shared/audio/diarization/` (or `--audio DIR` holding a `diarization_manifest.json`): each
  file with its RTTM reference, scored region (`uem`) and speaker count.
- The engine as configured (`settings.diarize`: backend, a known speaker count or none), loaded before the clock
  starts (`load_s`). Each file is decoded by ingest.decode and diarized by the backend ingest uses; the turns are
  scored by pyannote.metrics' DiarizationErrorRate with a 0.25 s collar and overlapping speech scored (missed
  speech + false alarm + confusion over the reference speech). `der` per file and pooled over the files (total
  errors / total reference speech, the way the metric accumulates); `speakers` found vs `speakers_ref`;
  `rtf` = diarization seconds / audio seconds.
- One voice stays one: the single-speaker files of the ASR set (JFK, the long-form LJSpeech reading) are diarized
  and their speaker counts reported (`speakers_single:<file>`; the reference is 1).
- Cost in an ingest: the long-form reading (quick mode: its first 60 s) is ingested by `ingest.pipeline` with
  diarization off and on, interleaved twice, models loaded beforehand; `ingest_overhead` = (best wall with
  speakers - best wall without) / best wall without, in %. Diarization runs beside the transcription (it needs
  the audio only), so the stage times alone would understate it: the whole ingest is compared.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path

from rag.bench.common import Ctx

BENCH = "diarize"
COLLAR = 0.25


def default_dir() -> Path | None:
    from rag.bench.asr import default_audio_dir

    asr = default_audio_dir()
    d = asr.parent / "diarization" if asr is not None else None
    return d if d is not None and (d / "diarization_manifest.json").is_file() else None


def read_rttm(path: Path, uri: str):
    from pyannote.core import Annotation, Segment

    ref = Annotation(uri=uri)
    for line in path.read_text().splitlines():
        p = line.split()
        if len(p) >= 8 and p[0] == "SPEAKER":
            ref[Segment(float(p[3]), float(p[3]) + float(p[4]))] = p[7]
    return ref


def annotation(turns, uri: str):
    from pyannote.core import Annotation, Segment

    hyp = Annotation(uri=uri)
    for t in turns:
        hyp[Segment(t.start, t.end)] = t.speaker
    return hyp


def score_files(diarizer, folder: Path, speakers: int | None, ctx: Ctx, engine: str) -> list[dict]:
    from pyannote.core import Segment, Timeline
    from pyannote.metrics.diarization import DiarizationErrorRate

    from ingest.decode import SAMPLE_RATE, decode

    files = json.loads((folder / "diarization_manifest.json").read_text())["files"]
    metric = DiarizationErrorRate(collar=COLLAR, skip_overlap=False)
    rows, right, audio_s, busy_s = [], 0, 0.0, 0.0
    for i, f in enumerate(files):
        ctx.say(f"diarize: {f['uri']}", 0.1 + 0.5 * i / len(files))
        audio = decode(folder / f["wav"])
        t0 = time.perf_counter()
        result = diarizer.diarize(audio, speakers=speakers)
        secs = time.perf_counter() - t0
        ref = read_rttm(folder / f["rttm"], f["uri"])
        uem = Timeline([Segment(*f["uem"])]) if f.get("uem") else None
        der = metric(ref, annotation(result.turns, f["uri"]), uem=uem)
        found, want = len(result.speakers), int(f.get("n_speakers") or len(ref.labels()))
        right += found == want
        dur = len(audio) / SAMPLE_RATE
        audio_s, busy_s = audio_s + dur, busy_s + secs
        note = f"{f['uri']}, {dur:.1f} s; collar {COLLAR} s, overlap scored"
        rows += [ctx.row(BENCH, f"der:{f['uri']}", der, "DER", engine, "", note),
                 ctx.row(BENCH, f"speakers:{f['uri']}", found, "speakers", engine, "", f"reference {want}"),
                 ctx.row(BENCH, f"rtf:{f['uri']}", secs / dur, "x realtime", engine, "", note)]
    rows += [ctx.row(BENCH, "der_pooled", abs(metric), "DER", engine, "", f"{len(files)} files, collar {COLLAR} s"),
             ctx.row(BENCH, "count_right", right, f"of {len(files)}", engine, "", "speaker count = reference"),
             ctx.row(BENCH, "rtf", busy_s / audio_s if audio_s else float("nan"), "x realtime", engine, "",
                     f"{audio_s:.0f} s of audio")]
    return rows


def single_voice(diarizer, speakers: int | None, ctx: Ctx, engine: str) -> list[dict]:
    from rag.bench.asr import default_audio_dir
    from ingest.decode import decode

    asr = default_audio_dir()
    rows = []
    for name in ("wav16k/whisper_jfk.wav", "ljspeech_LJ001_0001-0032_concat.wav"):
        path = asr / name if asr is not None else None
        if path is None or not path.is_file():
            continue
        ctx.say(f"diarize: one voice: {path.name}", 0.65)
        found = len(diarizer.diarize(decode(path), speakers=speakers).speakers)
        rows.append(ctx.row(BENCH, f"speakers_single:{path.stem}", found, "speakers", engine, "", "reference 1"))
    return rows


def ingest_overhead(ctx: Ctx, engine: str) -> list[dict]:
    from rag.bench.asr import default_audio_dir
    from rag.bench.ingest import QUICK_SECONDS, pick_recording

    asr = default_audio_dir()
    if asr is None:
        return []
    source = pick_recording(asr)
    tmp = Path(tempfile.mkdtemp(prefix="audiorag-bench-diarize-"))
    try:
        path = source
        if ctx.quick:
            from ingest.asr.openai import wav_bytes
            from ingest.decode import SAMPLE_RATE, decode

            path = tmp / f"{source.stem}_first{int(QUICK_SECONDS)}s.wav"
            path.write_bytes(wav_bytes(decode(source)[: int(QUICK_SECONDS * SAMPLE_RATE)]))
        walls = {}
        for mode in ("off", "on", "off", "on"):  # interleaved, twice: the faster of each pair counts
            res = _ingest_once(ctx, path, tmp / f"data-{mode}", mode)
            walls.setdefault(mode, []).append(res.seconds)
        off, on = min(walls["off"]), min(walls["on"])
        note = (f"{path.name}, {res.duration:.0f} s; asr {ctx.settings.asr.model}; ingest {off:.1f} s without "
                f"speakers, {on:.1f} s with (diarization runs beside the transcription); best of 2 each, "
                f"interleaved; models loaded beforehand")
        return [ctx.row(BENCH, "ingest_overhead", 100.0 * (on - off) / off if off else float("nan"), "%", engine,
                        ctx.settings.asr.model, note)]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _ingest_once(ctx: Ctx, path: Path, data_dir: Path, mode: str):
    from ingest.pipeline import Item, Pipeline

    diarize = ctx.settings.diarize.model_copy(update={"mode": mode})
    settings = ctx.settings.model_copy(update={"data_dir": str(data_dir), "diarize": diarize})
    pipe = Pipeline(settings)
    _ = pipe.asr, pipe.embedder
    if mode == "on":
        from ingest.diarize import get_diarizer

        get_diarizer(settings)
    ctx.say(f"diarize: ingesting {path.name} {'with' if mode == 'on' else 'without'} speakers", 0.75)
    res = pipe.ingest_item(Item(path, "audio"), force=True)
    if res.status != "ingested":
        raise RuntimeError(f"ingest of {path.name} {res.status}: {res.reason}")
    return res


def run(ctx: Ctx) -> list[dict]:
    from ingest.diarize import choose_backend, get_diarizer

    folder = Path(ctx.audio_dir) if ctx.audio_dir and (Path(ctx.audio_dir) / "diarization_manifest.json").is_file() \
        else default_dir()
    if folder is None:
        raise ValueError("no diarization recordings: pass --audio DIR with a diarization_manifest.json")
    speakers = ctx.settings.diarize.speakers
    engine = choose_backend(ctx.settings.diarize.backend)
    label = f"{engine} (speakers {'given: ' + str(speakers) if speakers else 'counted'})"
    ctx.say("diarize: loading the engine", 0.0)
    t0 = time.perf_counter()
    diarizer = get_diarizer(ctx.settings)
    settings = getattr(diarizer, "describe", lambda: "")()
    rows = [ctx.row(BENCH, "load_s", time.perf_counter() - t0, "s", label, "",
                    "engine load, before the clock" + (f"; {settings}" if settings else ""))]
    rows += score_files(diarizer, folder, speakers, ctx, label)
    rows += single_voice(diarizer, speakers, ctx, label)
    rows += ingest_overhead(ctx, label)
    ctx.say("diarize: done", 1.0)
    return rows
