"""`audiorag eval MANIFEST`: score spoken question answering against gold time windows.

A manifest (JSON) lists episodes and questions:

    {"name": "spoken-qa-mini",
     "episodes": [
        {"id": "bees", "sentences": ["…", "…"]},                  # spoken by espeak-ng, times known exactly
        {"id": "jfk", "file": "$AUDIORAG_SHARED/audio/asr/wav16k/whisper_jfk.wav"}   # a real recording
     ],
     "questions": [
        {"question": "…", "episode": "bees", "sentence": 2, "answer": ["varroa mite"]},
        {"question": "…", "episode": "jfk", "start": 0.0, "end": 11.0, "answer": "…"},
        {"question": "…", "answerable": false}
     ]}

Paths are relative to the manifest; `$VARS` expand, `$AUDIORAG_SHARED` defaulting to the `shared/` folder beside
the checkout. The episodes are ingested into a library of their own (`<data dir>/eval/<name>`, reused across runs;
`--library current` uses the configured one), every question is asked, and the scores are:

- hit@1, hit@5, MRR: rank of the first citation whose start lies in the gold window (± tolerance) of the gold
  episode, over answerable questions (an abstention is a miss); `search_*` the same for the retrieved passages.
- answer_contains_gold: the answer text contains one of the gold answers (case and punctuation ignored).
- abstain_accuracy (all questions), abstain_recall (unanswerable ones abstained on), false_abstain (answerable
  ones abstained on).

One CSV row per metric is appended to `<data dir>/bench/eval.csv` (timestamp, machine, versions, backend, model,
metric, value) and a table is printed.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import wave
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from rag.errors import AudioragError

CSV_FIELDS = ["timestamp", "machine", "versions", "backend", "model", "metric", "value"]


class EvalError(AudioragError, RuntimeError):
    """A manifest that cannot be evaluated; one line."""


@dataclass
class GoldQuestion:
    question: str
    episode: str | None  # manifest episode id; None for unanswerable
    start: float = 0.0
    end: float = 0.0
    answers: list[str] = field(default_factory=list)

    @property
    def answerable(self) -> bool:
        return self.episode is not None


@dataclass
class EpisodeSpec:
    id: str
    path: Path
    sentence_times: list[tuple[float, float]] = field(default_factory=list)


# -- manifest -------------------------------------------------------------------------------------------------------
def _expand(raw: str, base: Path) -> Path:
    env = dict(os.environ)
    if "AUDIORAG_SHARED" not in env:
        from rag.runtime import checkout_root

        root = checkout_root()
        env["AUDIORAG_SHARED"] = str((root.parent if root else Path.cwd()) / "shared")
    text = re.sub(r"\$\{?(\w+)\}?", lambda m: env.get(m.group(1), m.group(0)), raw)
    p = Path(text).expanduser()
    return p if p.is_absolute() else (base / p)


def synthesize(sentences: list[str], out: Path, voice: str = "en-us", speed: int = 160,
               gap: float = 0.4) -> list[tuple[float, float]]:
    """Speak `sentences` with espeak-ng into one WAV, `gap` seconds apart; returns each sentence's (start, end)."""
    if shutil.which("espeak-ng") is None:
        raise EvalError("espeak-ng is needed to speak the manifest's sentences (apt-get install espeak-ng)")
    frames: list[bytes] = []
    times: list[tuple[float, float]] = []
    rate, pos = None, 0
    with tempfile.TemporaryDirectory() as tmp:
        for i, s in enumerate(sentences):
            f = Path(tmp) / f"{i}.wav"
            subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(f), s], check=True,
                           capture_output=True)
            with wave.open(str(f)) as w:
                rate = rate or w.getframerate()
                data = w.readframes(w.getnframes())
            n = len(data) // 2
            times.append((pos / rate, (pos + n) / rate))
            silence = b"\x00\x00" * int(gap * rate)
            frames += [data, silence]
            pos += n + len(silence) // 2
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = out.with_suffix(".partial.wav")
    with wave.open(str(tmp_out), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate or 22050)
        w.writeframes(b"".join(frames))
    tmp_out.replace(out)
    out.with_suffix(".times.json").write_text(json.dumps(times))
    return times


def audio_cache_dir() -> Path:
    from platformdirs import user_cache_dir

    return Path(os.environ.get("AUDIORAG_EVAL_AUDIO", user_cache_dir("audiorag"))) / "eval-audio"


def load_manifest(path: str | Path, audio_dir: Path | None = None) -> tuple[str, list[EpisodeSpec], list[GoldQuestion]]:
    """Parse a manifest, speaking any text episodes (cached by content); gold windows resolved to seconds."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise EvalError(f"cannot read manifest {path}: {exc}") from None
    base = path.parent
    audio_dir = audio_dir or audio_cache_dir()
    episodes: dict[str, EpisodeSpec] = {}
    for e in data.get("episodes", []):
        eid = str(e["id"])
        if "sentences" in e:
            key = hashlib.sha256(json.dumps([e["sentences"], e.get("voice", "en-us"), e.get("speed", 160)]).encode()).hexdigest()[:16]
            wav = audio_dir / key / f"{eid}.wav"  # the file name becomes the episode's title
            times_file = wav.with_suffix(".times.json")
            if wav.exists() and times_file.exists():
                times = [tuple(t) for t in json.loads(times_file.read_text())]
            else:
                times = synthesize(e["sentences"], wav, e.get("voice", "en-us"), e.get("speed", 160))
            episodes[eid] = EpisodeSpec(eid, wav, times)
        elif "file" in e:
            p = _expand(e["file"], base)
            if not p.exists():
                raise EvalError(f"episode '{eid}': file not found: {p}")
            times = [(float(s["start_s"] if "start_s" in s else s["start"]), float(s["end_s"] if "end_s" in s else s["end"]))
                     for s in e.get("segments", [])]
            episodes[eid] = EpisodeSpec(eid, p, times)
        else:
            raise EvalError(f"episode '{eid}' needs 'file' or 'sentences'")
    questions: list[GoldQuestion] = []
    for q in data.get("questions", []):
        text = q.get("question") or q.get("q")
        if not text:
            raise EvalError("a question without 'question' text")
        answers = q.get("answer", q.get("answers", []))
        answers = [answers] if isinstance(answers, str) else list(answers)
        if q.get("answerable", True) is False or not q.get("episode"):
            questions.append(GoldQuestion(text, None))
            continue
        ep = episodes.get(str(q["episode"]))
        if ep is None:
            raise EvalError(f"question {text!r}: unknown episode '{q['episode']}'")
        if "sentence" in q:
            idx = q["sentence"]
            idxs = idx if isinstance(idx, list) else [idx]
            try:
                start, end = ep.sentence_times[min(idxs)][0], ep.sentence_times[max(idxs)][1]
            except IndexError:
                raise EvalError(f"question {text!r}: episode '{ep.id}' has no sentence {idx}") from None
        else:
            start, end = float(q["start"]), float(q["end"])
        questions.append(GoldQuestion(text, ep.id, start, end, answers))
    name = data.get("name") or path.stem
    return name, list(episodes.values()), questions


# -- scoring (pure) -------------------------------------------------------------------------------------------------
def first_hit_rank(cited: list[tuple[str, float]], episode_id: str, start: float, end: float,
                   tolerance: float, k: int = 5) -> int | None:
    """1-based rank of the first (episode_id, cited start) inside the gold window ± tolerance, within the top k."""
    for i, (eid, t) in enumerate(cited[:k], 1):
        if eid == episode_id and start - tolerance <= t <= end + tolerance:
            return i
    return None


def contains_gold(answer: str, golds: list[str]) -> bool:
    """One of the gold answers occurs in the answer, compared as rag.textnorm normalises (case, punctuation and
    digits vs number words ignored: Whisper writes "40 meters" for "forty meters")."""
    from rag.textnorm import normalize_text

    a = f" {normalize_text(answer)} "
    return any(f" {normalize_text(g)} " in a for g in golds if normalize_text(g))


@dataclass
class QuestionResult:
    question: str
    answerable: bool
    abstained: bool
    rank: int | None
    search_rank: int | None
    contains: bool
    seconds: float
    answer: str = ""
    first_citation: str = ""


def metrics(results: list[QuestionResult]) -> dict[str, float]:
    ans = [r for r in results if r.answerable]
    una = [r for r in results if not r.answerable]
    m: dict[str, float] = {}
    if ans:
        m["hit@1"] = sum(r.rank == 1 for r in ans) / len(ans)
        m["hit@5"] = sum(r.rank is not None for r in ans) / len(ans)
        m["mrr"] = sum(1 / r.rank for r in ans if r.rank) / len(ans)
        m["search_hit@1"] = sum(r.search_rank == 1 for r in ans) / len(ans)
        m["search_hit@5"] = sum(r.search_rank is not None for r in ans) / len(ans)
        m["search_mrr"] = sum(1 / r.search_rank for r in ans if r.search_rank) / len(ans)
        m["answer_contains_gold"] = sum(r.contains for r in ans) / len(ans)
        m["false_abstain"] = sum(r.abstained for r in ans) / len(ans)
    if una:
        m["abstain_recall"] = sum(r.abstained for r in una) / len(una)
    if results:
        m["abstain_accuracy"] = sum(r.abstained == (not r.answerable) for r in results) / len(results)
        m["seconds_per_question"] = sum(r.seconds for r in results) / len(results)
    m["questions"] = float(len(results))
    return m


# -- running ----------------------------------------------------------------------------------------------------------
def eval_settings(settings, name: str, library: str):
    if library == "current":
        return settings
    return settings.model_copy(update={"data_dir": settings.data_path("eval", re.sub(r"[^\w.-]+", "_", name))})


def ingest_episodes(specs: list[EpisodeSpec], settings, progress=print) -> dict[str, str]:
    """Manifest episode id → library episode id (ingesting what is not there yet)."""
    from ingest.pipeline import Item, Pipeline

    pipe = Pipeline(settings)
    ids: dict[str, str] = {}
    changed = False
    for spec in specs:
        res = pipe.ingest_item(Item(spec.path, "audio", audio=spec.path))
        if res.status == "failed":
            raise EvalError(f"could not ingest episode '{spec.id}' ({spec.path}): {res.reason}")
        changed |= res.status == "ingested"
        progress(f"{res.status:9} {spec.id}")
        ids[spec.id] = res.episode_id
    if changed:
        pipe.store.optimize()
    return ids


def evaluate(manifest: str | Path, *, settings=None, mode: str | None = None, tolerance: float = 2.0,
             library: str = "isolated", limit: int | None = None, progress=print, llm=None) -> tuple[dict[str, float], list[QuestionResult]]:
    from rag.answer import ask, default_mode
    from rag.embed import get_embedder
    from rag.settings import get_settings
    from rag.store import Store

    settings = settings or get_settings()
    mode = mode or default_mode(settings)
    name, specs, questions = load_manifest(manifest)
    if limit:
        questions = questions[:limit]
    es = eval_settings(settings, name, library)
    ids = ingest_episodes(specs, es, progress)
    store, embedder = Store(es), get_embedder(es)
    if llm is None and mode != "extractive":
        from rag.llm import get_task_llm

        llm = get_task_llm(es, "answer")
    results: list[QuestionResult] = []
    for i, q in enumerate(questions, 1):
        t0 = time.perf_counter()
        final, passages = None, []
        for ev in ask(q.question, settings=es, mode=mode, store=store, embedder=embedder, llm=llm):
            if ev["type"] == "passages":
                passages = ev["passages"]
            elif ev["type"] == "final":
                final = ev["answer"]
        dt = time.perf_counter() - t0
        rank = search_rank = None
        contains = False
        if q.answerable:
            gold_id = ids[q.episode]
            search_rank = first_hit_rank([(p["episode_id"], p["start"]) for p in passages], gold_id, q.start, q.end, tolerance)
            if not final.abstained:
                rank = first_hit_rank([(c.episode_id, c.start) for c in final.citations], gold_id, q.start, q.end, tolerance)
                contains = contains_gold(final.answer, q.answers)
        r = QuestionResult(q.question, q.answerable, final.abstained, rank, search_rank, contains, dt,
                           final.answer, final.citations[0].label if final.citations else "")
        results.append(r)
        progress(f"[{i}/{len(questions)}] {'abstain' if r.abstained else 'answer '} rank={r.rank} "
                 f"contains={r.contains} {q.question}")
    return metrics(results), results


def machine() -> str:
    return f"{platform.system()}-{platform.machine()}-{os.cpu_count()}cpu"


def versions() -> str:
    import importlib.metadata as md

    out = []
    for dist in ("mlx-audio-rag", "mlx", "mlx-lm", "lancedb"):
        try:
            out.append(f"{dist}={md.version(dist)}")
        except md.PackageNotFoundError:
            pass
    return ";".join(out)


def write_csv(rows: list[dict], settings) -> Path:
    """Append rows to `<data dir>/bench/eval.csv` (a local user data dir when the library is remote)."""
    if settings.is_remote_store:
        from platformdirs import user_data_dir

        target = Path(user_data_dir("audiorag")) / "bench" / "eval.csv"
    else:
        target = Path(settings.data_path("bench", "eval.csv"))
    target.parent.mkdir(parents=True, exist_ok=True)
    new = not target.exists()
    with open(target, "a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=CSV_FIELDS)
        if new:
            w.writeheader()
        w.writerows(rows)
    return target


def csv_rows(m: dict[str, float], settings, name: str, mode: str) -> list[dict]:
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    from rag.answer import answer_model_name

    backend = settings.llm.backend if mode != "extractive" else "none"
    model = answer_model_name(settings) if mode != "extractive" else "none"
    return [{"timestamp": now, "machine": machine(), "versions": versions(), "backend": backend, "model": model,
             "metric": f"{name}/{mode}/{k}", "value": round(v, 4)} for k, v in m.items()]


# -- CLI ----------------------------------------------------------------------------------------------------------------
def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("manifest", help="spoken-QA manifest (JSON): episodes, questions, gold time windows")
    p.add_argument("--mode", action="append", choices=["hybrid", "extractive", "generative"],
                   help="answer mode to score (repeatable; default: the configured LLM's default mode)")
    p.add_argument("--tolerance", type=float, default=2.0, help="seconds a cited start may lie outside the gold window")
    p.add_argument("--library", choices=["isolated", "current"], default="isolated",
                   help="isolated (default): a library of its own under <data dir>/eval/; current: the configured one")
    p.add_argument("--limit", type=int, help="only the first N questions")
    p.add_argument("--json", action="store_true", help="print metrics and per-question results as JSON")


def run(args: argparse.Namespace) -> int:
    from rag.answer import default_mode
    from rag.settings import get_settings

    settings = get_settings()
    modes = args.mode or [default_mode(settings)]
    log = (lambda m: print(m, file=sys.stderr))
    all_out = {}
    try:
        name = load_manifest(args.manifest)[0]
        llm = None
        for mode in modes:
            if llm is None and mode != "extractive":
                from rag.llm import get_task_llm

                llm = get_task_llm(settings, "answer")
            m, results = evaluate(args.manifest, settings=settings, mode=mode, tolerance=args.tolerance,
                                  library=args.library, limit=args.limit, progress=log, llm=llm)
            path = write_csv(csv_rows(m, settings, name, mode), settings)
            all_out[mode] = {"metrics": m, "results": [r.__dict__ for r in results]}
            log(f"appended {len(m)} rows to {path}")
    except EvalError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        from rag.cli import print_json

        print_json(all_out)
        return 0
    from rag.answer import answer_model_name
    from rag.table import show_table

    keys = list(next(iter(all_out.values()))["metrics"])
    show_table(("metric", *modes),
               ([k, *[f"{all_out[mode]['metrics'].get(k, float('nan')):.3f}" for mode in modes]] for k in keys),
               title=f"eval: {name} (tolerance ±{args.tolerance:g} s, answering LLM {answer_model_name(settings)})",
               right=modes)
    return 0
