"""`audiorag eval MANIFEST`: score spoken question answering against gold time windows.

The manifest format is in rag/evalset.py (episodes spoken by espeak-ng or real recordings; answerable, on-topic
unanswerable, off-topic and follow-up questions; dev/test splits by episode). The episodes are ingested into a
library of their own (`--library isolated`: `<data dir>/eval/<name>`; `cache`: one per machine and model pair;
`current`: the configured one), every question of the chosen `--split` is asked, and the scores are:

- hit@1, hit@5, MRR: rank of the first citation whose start lies in the gold window (± tolerance) of the gold
  episode, over answerable questions (a refusal is a miss); `search_*` the same for the retrieved passages;
  `follow_up_hit@1` the same over follow-ups (asked after their earlier questions in one chat).
- answer_contains_gold: the answer text contains one of the gold answers (case, punctuation, digits vs number
  words ignored).
- false_abstain (answerable refused), refused_on_topic / refused_off_topic (unanswerable refused),
  abstain_recall (all unanswerable), abstain_accuracy (all questions).
- answers_with_repeats: answers that show a sentence or a moment's link twice (rag.answer.repeats); must be 0.

One CSV row per metric is appended to `<data dir>/bench/eval.csv` (timestamp, machine, versions, backend, model,
metric, value); `audiorag eval` (rag/cli/eval.py) prints them as a table.
"""

from __future__ import annotations

import csv
import os
import platform
import re
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from rag.evalset import EvalError, EpisodeSpec, GoldQuestion, audio_cache_dir, load_manifest, synthesize  # noqa: F401

CSV_FIELDS = ["timestamp", "machine", "versions", "backend", "model", "metric", "value"]


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
    kind: str = "answerable"  # answerable | follow_up | on_topic | off_topic (rag.evalset.GoldQuestion.kind)
    query: str = ""  # the standalone question searched
    span: str = ""
    lead_by_model: bool = False
    repeats: int = 0  # sentences or moment links the answer shows twice (rag.answer.repeats)
    reason: str = ""


def _rate(rs: list[QuestionResult], pred) -> float:
    return sum(bool(pred(r)) for r in rs) / len(rs)


def metrics(results: list[QuestionResult]) -> dict[str, float]:
    """Answerable questions are the plain ones (follow-ups are scored apart, as follow-up hit@1); refusals are
    split into false (answerable refused) and true (unanswerable refused, on-topic and off-topic apart)."""
    ans = [r for r in results if r.answerable and r.kind != "follow_up"]
    fol = [r for r in results if r.kind == "follow_up"]
    una = [r for r in results if not r.answerable]
    m: dict[str, float] = {}
    if ans:
        m["hit@1"] = _rate(ans, lambda r: r.rank == 1)
        m["hit@5"] = _rate(ans, lambda r: r.rank is not None)
        m["mrr"] = sum(1 / r.rank for r in ans if r.rank) / len(ans)
        m["search_hit@1"] = _rate(ans, lambda r: r.search_rank == 1)
        m["search_hit@5"] = _rate(ans, lambda r: r.search_rank is not None)
        m["search_mrr"] = sum(1 / r.search_rank for r in ans if r.search_rank) / len(ans)
        m["answer_contains_gold"] = _rate(ans, lambda r: r.contains)
        m["false_abstain"] = _rate(ans, lambda r: r.abstained)
    if fol:
        m["follow_up_hit@1"] = _rate(fol, lambda r: r.rank == 1)
        m["follow_up_contains_gold"] = _rate(fol, lambda r: r.contains)
    if una:
        m["abstain_recall"] = _rate(una, lambda r: r.abstained)
    for kind in ("on_topic", "off_topic"):
        rs = [r for r in una if r.kind == kind]
        if rs:
            m[f"refused_{kind}"] = _rate(rs, lambda r: r.abstained)
    if results:
        m["abstain_accuracy"] = _rate(results, lambda r: r.abstained == (not r.answerable))
        m["answers_with_repeats"] = float(sum(r.repeats > 0 for r in results))
        m["seconds_per_question"] = sum(r.seconds for r in results) / len(results)
    m["questions"] = float(len(results))
    return m


# -- running ----------------------------------------------------------------------------------------------------------
def eval_settings(settings, name: str, library: str):
    """isolated: `<data dir>/eval/<name>`; cache: a machine-wide folder per (manifest, ASR model, embedding model),
    so repeated runs and CI on the same machine never re-transcribe; current: the configured library."""
    if library == "current":
        return settings
    safe = re.sub(r"[^\w.-]+", "_", name)
    if library == "cache":
        key = re.sub(r"[^\w.-]+", "_", f"{safe}-{settings.asr.model}-{settings.embed.model}")
        return settings.model_copy(update={"data_dir": str(audio_cache_dir().parent / "eval-library" / key)})
    return settings.model_copy(update={"data_dir": settings.data_path("eval", safe)})


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


def _ask(chat, question: str) -> tuple:
    final, passages = None, []
    for ev in chat.ask(question):
        if ev["type"] == "passages":
            passages = ev["passages"]
        elif ev["type"] == "final":
            final = ev["answer"]
    return final, passages


def score(q: GoldQuestion, final, passages: list[dict], gold_id: str | None, tolerance: float, seconds: float) -> QuestionResult:
    from rag.answer import repeats

    rank = search_rank = None
    contains = False
    if q.answerable:
        search_rank = first_hit_rank([(p["episode_id"], p["start"]) for p in passages], gold_id, q.start, q.end, tolerance)
        if not final.abstained:
            rank = first_hit_rank([(c.episode_id, c.start) for c in final.citations], gold_id, q.start, q.end, tolerance)
            contains = contains_gold(final.answer, q.answers)
    return QuestionResult(q.question, q.answerable, final.abstained, rank, search_rank, contains, seconds,
                          final.answer, final.citations[0].label if final.citations else "", q.kind,
                          final.query or q.question, final.span.text if final.span else "", final.lead_by_model,
                          len(repeats(final)), final.reason)


def evaluate(manifest: str | Path, *, settings=None, mode: str | None = None, tolerance: float = 2.0,
             library: str = "isolated", limit: int | None = None, split: str | None = None, progress=print,
             llm=None) -> tuple[dict[str, float], list[QuestionResult]]:
    """Ask every question of the manifest (of one split, when given) and score it. A follow-up's earlier questions
    are asked first in the same chat, so its rewrite sees the real earlier answers."""
    from rag.answer import default_mode
    from rag.chat import Chat
    from rag.embed import get_embedder
    from rag.settings import get_settings
    from rag.store import Store

    settings = settings or get_settings()
    mode = mode or default_mode(settings)
    name, specs, questions = load_manifest(manifest)
    if split and split != "all":
        questions = [q for q in questions if q.split == split]
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
        chat = Chat(settings=es, mode=mode, llm=llm, store=store, embedder=embedder)
        for earlier in q.history:
            _ask(chat, earlier)
        t0 = time.perf_counter()
        final, passages = _ask(chat, q.question)
        r = score(q, final, passages, ids.get(q.episode) if q.episode else None, tolerance, time.perf_counter() - t0)
        results.append(r)
        progress(f"[{i}/{len(questions)}] {q.kind:10} {'refuse' if r.abstained else 'answer'} rank={r.rank} "
                 f"contains={r.contains} {q.question}" + (f" → {r.query}" if r.query != q.question else ""))
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


def answering_llm(settings) -> str:
    """The model that writes the answers, with its adapter when one is chosen: "smollm2-135m-instruct+shop"."""
    from rag.answer import answer_model_name

    name = answer_model_name(settings)
    return f"{name}+{settings.llm.adapter}" if settings.llm.adapter else name


def csv_rows(m: dict[str, float], settings, name: str, mode: str) -> list[dict]:
    """One row per metric; the model column names the adapter too ("base+adapter"), so runs with and without one
    stay apart in the history. An adapter runs on mlx-lm (rag.llm.local_backend)."""
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    backend = ("mlx" if settings.llm.adapter else settings.llm.backend) if mode != "extractive" else "none"
    model = answering_llm(settings) if mode != "extractive" else "none"
    return [{"timestamp": now, "machine": machine(), "versions": versions(), "backend": backend, "model": model,
             "metric": f"{name}/{mode}/{k}", "value": round(v, 4)} for k, v in m.items()]


def evaluate_modes(manifest: str | Path, modes: list[str], *, settings, tolerance: float = 2.0,
                   library: str = "isolated", limit: int | None = None, split: str = "all",
                   progress=print) -> tuple[str, dict]:
    """`evaluate` once per answer mode (one answering LLM loaded for all), each mode's metrics appended to the CSV
    history: (manifest name, {mode: {"metrics", "results"}})."""
    name = load_manifest(manifest)[0]
    llm = None
    out = {}
    for mode in modes:
        if llm is None and mode != "extractive":
            from rag.llm import get_task_llm

            llm = get_task_llm(settings, "answer")
        m, results = evaluate(manifest, settings=settings, mode=mode, tolerance=tolerance, library=library,
                              limit=limit, split=split, progress=progress, llm=llm)
        tag = name if split == "all" else f"{name}:{split}"
        path = write_csv(csv_rows(m, settings, tag, mode), settings)
        out[mode] = {"metrics": m, "results": [r.__dict__ for r in results],
                     "llm": answering_llm(settings) if mode != "extractive" else None,
                     "adapter": settings.llm.adapter if mode != "extractive" else None}
        progress(f"appended {len(m)} rows to {path}")
    return name, out
