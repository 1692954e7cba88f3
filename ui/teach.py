"""What the Teach tab (ui/teach_tab.py) and its API endpoints do, as plain functions over a Backend: the vocabulary
(rag/vocab.py), the transcript corrections (rag/corrections.py) and a fine-tune run (rag/finetune.py) with the
adapters it makes (rag/adapters.py). The same calls as `audiorag vocab`, `corrections export`, `finetune` and
`models list`, so the page and the command line cannot drift apart."""

from __future__ import annotations

import queue
import re
import threading
from typing import Iterator

from rag.schema import format_ts
from ui.backend import UserError

VOCAB_COLUMNS = ["word", "applies to", "added"]
CORRECTION_COLUMNS = ["where", "heard", "corrected"]
ADAPTER_COLUMNS = ["name", "base", "data · figures"]
SOURCES = [("Transcripts (the library's language)", "text"), ("Corrections (heard → corrected)", "corrections"),
           ("Questions about the transcripts", "qa")]
MAX_ITERS = 10_000


# -- vocabulary ------------------------------------------------------------------------------------------------------
def split_words(text: str) -> list[str]:
    """Entries typed in one box: separated by commas, semicolons or new lines ("Rollo, Rio Negro")."""
    return [w.strip() for w in re.split(r"[,;\n]", text or "") if w.strip()]


def vocab_rows(backend, episode: str | None = None) -> list[list[str]]:
    """The library's entries then each episode's (no episode chosen), or one episode's own entries."""
    from rag import vocab

    entries = vocab.entries(backend.store, episode or None)
    titles = {e.id: e.title for e in backend.episodes()} if any(e.episode_id for e in entries) else {}
    return [[e.word, titles.get(e.episode_id, e.episode_id) if e.episode_id else "whole library",
             e.added.strftime("%Y-%m-%d")] for e in entries]


def add_words(backend, text: str, episode: str | None = None) -> list[str]:
    """Add the typed entries to the library's list or to one episode's; returns the spellings kept."""
    from rag import vocab

    words = split_words(text)
    if not words:
        raise UserError("Type a name or term to add (several: separate them with commas).")
    return [e.word for e in vocab.add(backend.store, words, episode or None)]


def remove_words(backend, text: str, episode: str | None = None) -> int:
    """Remove the typed entries (from every list, or from one episode's); how many entries went."""
    from rag import vocab

    words = split_words(text)
    if not words:
        raise UserError("Type the word to remove, or click it in the table.")
    return sum(vocab.remove(backend.store, w, episode or None) for w in words)


# -- corrections -----------------------------------------------------------------------------------------------------
def corrections(backend) -> list[dict]:
    from rag.corrections import corrections as kept

    return list(kept(backend.store))


def correction_rows(found: list[dict]) -> list[list[str]]:
    """One row per pair: the episode and the line's time span, what Whisper heard, what it says now."""
    return [[f"{c['title']} @ {format_ts(c['start'])}–{format_ts(c['end'])}", c["heard"], c["corrected"]]
            for c in found]


def write_corrections(backend, found: list[dict] | None = None) -> str | None:
    """The corrections as JSONL (what `audiorag corrections export` writes), in the library's private exports folder
    (rag/private.py: 0600, never through a link); None when there are none."""
    from rag.corrections import to_jsonl
    from rag.private import private_dir, write_private

    found = corrections(backend) if found is None else found
    if not found:
        return None
    folder = private_dir(backend.settings, "exports", "corrections")
    return str(write_private(folder, "corrections.jsonl", to_jsonl(found)))


# -- adapters and fine-tuning ------------------------------------------------------------------------------------------
def adapters(backend) -> list[dict]:
    from rag.adapters import list_adapters

    return list_adapters(backend.settings.models_path)


def adapter_rows(found: list[dict]) -> list[list[str]]:
    from rag.adapters import figures_line

    def trained_on(a: dict) -> str:
        data = a.get("data") or {}
        return ", ".join(data.get("sources") or []) or str(data.get("source") or "")

    return [[a["name"] if a["ready"] else f"{a['name']} (corrupted: train it again)", a["base"] or "",
             " · ".join(x for x in (trained_on(a), figures_line(a)) if x)] for a in found]


def finetune_request(backend, name: str, sources: list[str], iters, minutes, replace: bool = False):
    """The page's choices as a rag.finetune.FinetuneRequest, each bad one a one-line UserError."""
    from rag.adapters import ROLE, check_name
    from rag.finetune import FinetuneRequest
    from rag.models.pull import read_manifest

    if not sources:
        raise UserError("Choose what to train on: transcripts, corrections or questions.")
    try:
        iters = int(iters or 0)
        minutes = float(minutes or 0)
    except (TypeError, ValueError):
        raise UserError("Iterations and minutes are numbers.") from None
    if not 1 <= iters <= MAX_ITERS:
        raise UserError(f"Iterations: a whole number from 1 to {MAX_ITERS}.")
    if minutes < 0:
        raise UserError("Minutes: 0 (no time limit) or more.")
    name = (name or "").strip() or None
    if name:
        check_name(name)
        models = backend.settings.models_path
        if (models / name).exists() and not replace:
            what = "An adapter" if (read_manifest(name, models) or {}).get("role") == ROLE else "A model"
            raise UserError(f"{what} named '{name}' exists: tick “Replace an adapter of that name” or choose "
                            "another name.")
    return FinetuneRequest(name=name, sources=tuple(sources), iters=iters, minutes=minutes or None,
                           force=bool(replace))


def run_finetune(backend, req) -> Iterator[dict]:
    """Train in a worker thread and yield what it reports: {"type": "note", "text"}, {"type": "progress",
    iteration, of, loss, elapsed_s, left_s}, and last {"type": "done", "manifest"}; a failure is raised here."""
    from rag.finetune import finetune

    events: queue.Queue = queue.Queue()
    result: dict = {}

    def work() -> None:
        try:
            result["manifest"] = finetune(req, settings=backend.settings,
                                          progress=lambda info: events.put({"type": "progress", **info}),
                                          note=lambda text: events.put({"type": "note", "text": text}))
        except BaseException as exc:  # noqa: BLE001 — handed to the page's thread, raised there
            result["error"] = exc
        finally:
            events.put(None)

    worker = threading.Thread(target=work, name=f"finetune {req.name or ''}", daemon=True)
    worker.start()
    while (ev := events.get()) is not None:
        yield ev
    worker.join()
    if "error" in result:
        raise result["error"]
    yield {"type": "done", "manifest": result["manifest"]}
