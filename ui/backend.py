"""What the web app does, as plain functions over plain data: the UI handlers and the `gradio_client` API both call
these, so the page and the API cannot drift apart.

One Backend per app: it holds one store connection and the loaded models (ASR, embedder, LLM), so they load once
per server, not once per request. Model work is serialised by the app's queue (one concurrency group), because
the MLX models are shared and the machine's cores are few.
"""

from __future__ import annotations

import queue
import threading
import time
from pathlib import Path
from typing import Iterator

from rag.errors import AudioragError, display
from rag.schema import Episode, Segment


class UserError(AudioragError, RuntimeError):
    """Something the user can fix (unknown episode, empty question); shown as a readable message."""


def time_left(stage: str, fraction: float, elapsed: float) -> float | None:
    """Seconds left for a file while its audio is transcribed (the pipeline maps transcription to 10-60 % of
    the bar), from the pace so far; None before there is a pace to go by."""
    done = (fraction - 0.1) / 0.5
    if stage != "transcribe" or done < 0.05 or elapsed < 1.0:
        return None
    return elapsed * (1.0 - min(done, 1.0)) / done


class Backend:
    def __init__(self, settings=None):
        from rag.settings import get_settings

        self.settings = settings or get_settings()
        self._store = None
        self._pipeline = None
        self._chats = None
        self._lock = threading.RLock()
        # live answers, per conversation: questions waiting their turn, the Stop flag of the running answer, and
        # the running answer as last shown (so a page that re-renders the chat meanwhile keeps it)
        self._waiting: dict[str, list[str]] = {}
        self._cancel: dict[str, threading.Event] = {}
        self.live: dict[str, tuple[str, str]] = {}
        self.viewing: dict[str, str] = {}  # browser session → the conversation its Ask tab shows

    # -- shared resources --------------------------------------------------------------------------------------
    @property
    def store(self):
        with self._lock:
            if self._store is None:
                from rag.store import Store

                self._store = Store(self.settings)
            return self._store

    @property
    def pipeline(self):
        with self._lock:
            if self._pipeline is None:
                from ingest.pipeline import Pipeline

                self._pipeline = Pipeline(self.settings, store=self.store)
            return self._pipeline

    @property
    def embedder(self):
        return self.pipeline.embedder

    @property
    def chats(self):
        with self._lock:
            if self._chats is None:
                from rag.chats import Chats

                self._chats = Chats(self.store)
            return self._chats

    # -- questions waiting for an answer ----------------------------------------------------------------------
    def enqueue(self, conv_id: str, question: str) -> None:
        with self._lock:
            self._waiting.setdefault(conv_id, []).append(question)

    def waiting(self, conv_id: str) -> list[str]:
        with self._lock:
            return list(self._waiting.get(conv_id, []))

    def next_question(self, conv_id: str) -> tuple[str, threading.Event] | None:
        """The next waiting question and a fresh Stop flag for its answer (None when none waits)."""
        with self._lock:
            waiting = self._waiting.get(conv_id)
            if not waiting:
                return None
            self._cancel[conv_id] = threading.Event()
            return waiting.pop(0), self._cancel[conv_id]

    def answered(self, conv_id: str) -> None:
        """The answer handed out by `next_question` has ended (stored, stopped or failed)."""
        with self._lock:
            self._cancel.pop(conv_id, None)

    def stop(self, conv_id: str) -> tuple[bool, list[str]]:
        """Stop the running answer and take back the questions still waiting. Returns whether an answer was running
        (its stream then ends as "stopped") and the questions taken back, for the input box."""
        with self._lock:
            running = self._cancel.get(conv_id)
            if running is not None:
                running.set()
            return running is not None, self._waiting.pop(conv_id, [])

    # -- episodes ----------------------------------------------------------------------------------------------
    def episodes(self, include_incomplete: bool = True) -> list[Episode]:
        return self.store.list_episodes(include_incomplete=include_incomplete)

    def find(self, ref: str) -> Episode:
        ref = (ref or "").strip()
        if not ref:
            raise UserError("Choose an episode first.")
        ep = self.store.get_episode(ref) or self.store.find_episode(ref)
        if ep is None:
            raise UserError(f"No episode matches '{ref}'.")
        return ep

    def segments(self, episode_id: str) -> list[Segment]:
        return self.store.segments(episode_id)

    def audio_file(self, ep: Episode) -> str | None:
        """A local path the server may serve for this episode's audio (a cached copy for object storage)."""
        if not ep.audio_path:
            return None
        from rag.storage import local_copy

        try:
            return str(local_copy(ep.audio_path, self.settings))
        except OSError:
            return None

    def src_for(self, episode_id: str) -> str:
        from ui.render import audio_url

        ep = self.store.get_episode(episode_id)
        return audio_url(self.audio_file(ep)) if ep is not None else ""

    def delete(self, ref: str) -> dict:
        from rag.library import delete_episode

        ep = self.find(ref)
        delete_episode(self.store, ep.id)
        return {"deleted": ep.id, "title": ep.title}

    def rename(self, ref: str, title: str) -> dict:
        title = " ".join((title or "").split())
        if not title:
            raise UserError("Type a title first.")
        ep = self.store.set_episode_fields(self.find(ref).id, title=title)
        return {"episode_id": ep.id, "title": ep.title}

    def edit_segment(self, ref: str, segment_id: int, text: str, revert: bool = False) -> dict:
        """Correct one segment's text (or put its original back): stored, searchable and exported at once."""
        from rag.edit import edit_segment, revert_segment

        ep = self.find(ref)
        with self._lock:
            if revert:
                seg = revert_segment(self.store, self.embedder, ep.id, int(segment_id))
            else:
                seg = edit_segment(self.store, self.embedder, ep.id, int(segment_id), text)
        return {"episode_id": ep.id, "id": seg.id, "start": seg.start, "end": seg.end, "text": seg.text,
                "edited": not revert}

    def edited_segments(self, episode_id: str) -> set[int]:
        from rag.edit import edited_ids

        return edited_ids(self.store, episode_id)

    def export(self, ref: str, fmt: str) -> tuple[str, str]:
        """(file name, text) of an episode's transcript in srt, vtt, json, md or txt."""
        from ingest.writers import _safe_name, get_writer
        from rag.schema import Transcript

        ep = self.find(ref)
        segs = self.segments(ep.id)
        transcript = Transcript(segments=segs, language=ep.language, model=ep.asr_model, duration=ep.duration,
                                has_word_times=any(s.words for s in segs))
        try:
            writer = get_writer(fmt)
            text = writer.write(transcript, episode=ep)
        except ValueError as exc:
            raise UserError(display(exc)) from exc
        return f"{_safe_name(ep.title)}.{writer.extension}", text

    def summarize(self, ref: str) -> dict:
        from rag.summarize import summarize_episode

        ep = self.find(ref)
        meta, report = summarize_episode(ep.id, settings=self.settings, store=self.store)
        return {"episode_id": ep.id, **meta.model_dump(mode="json"),
                "model_fields": list(report.model_fields), "fallback_fields": list(report.fallback_fields)}

    # -- ingest ------------------------------------------------------------------------------------------------
    def ingest(self, files: list[str], names: list[str] | None = None, enhance: bool = False) -> Iterator[list[dict]]:
        """Stage uploads into the library, ingest them one by one, and yield the per-file progress rows after
        every stage change. The last yield has every file's final status."""
        from ui.uploads import cleanup, stage_uploads

        names = names or [Path(f).name for f in files]
        rows = [{"name": n, "stage": "queued", "fraction": 0.0, "status": None} for n in names]
        yield rows
        staged = stage_uploads(files, self.settings, names)
        try:
            yield from self._ingest_staged(staged, rows, enhance)
        finally:
            cleanup([p for _, p in staged], self.settings)

    def _ingest_staged(self, staged: list[tuple[str, Path]], rows: list[dict], enhance: bool) -> Iterator[list[dict]]:
        from ingest.pipeline import collect

        by_path = {str(p): i for i, (_, p) in enumerate(staged)}
        items, skipped = collect([p for _, p in staged])
        for res in skipped:  # e.g. an audio file whose transcript was uploaded beside it
            i = by_path.get(res.path)
            if i is not None:
                rows[i].update(status="skipped", reason=res.reason, fraction=1.0)
        yield rows
        pipe = self.pipeline
        ingested = False
        for item in items:
            i = by_path.get(str(item.path))
            row = rows[i] if i is not None else {"name": item.path.name}
            events: queue.Queue = queue.Queue()
            result: list = []

            def work(item=item) -> None:
                try:
                    result.append(pipe.ingest_item(item, enhance=enhance,
                                                   on_stage=lambda s, f: events.put((s, f))))
                finally:
                    events.put(None)

            row.update(stage="decode", fraction=0.01)
            yield rows
            t = threading.Thread(target=work, name=f"ingest {item.path.name}", daemon=True)
            t.start()
            started = time.monotonic()
            while True:
                ev = events.get()
                if ev is None:
                    break
                row.update(stage=ev[0], fraction=ev[1], left=time_left(ev[0], ev[1], time.monotonic() - started))
                yield rows
            t.join()
            res = result[0] if result else None
            if res is None:
                row.update(status="failed", reason="ingest stopped unexpectedly", fraction=1.0)
            else:
                row.update(status=res.status, reason=res.reason,  # an ingested file's reason: truncated
                           fraction=1.0, episode_id=res.episode_id, title=res.title, duration=res.duration,
                           seconds=round(res.seconds, 2))
                # a companion audio file that was paired with this transcript gets the same result
                if item.audio is not None and str(item.audio) in by_path and item.audio != item.path:
                    told = item.sidecar.reason if item.sidecar is not None else None  # says if the transcript failed
                    rows[by_path[str(item.audio)]].update(status="skipped", fraction=1.0,
                                                          reason=told or f"linked for playback to {item.path.name}")
                ingested |= res.status == "ingested"
            yield rows
        if ingested:
            from rag.optimize import optimize_library

            optimize_library(self.store)
        yield rows

    # -- ask and search ----------------------------------------------------------------------------------------
    def ask(self, question: str, episode: str | None = None, history: list | None = None, opts=None,
            cancel: threading.Event | None = None) -> Iterator[dict]:
        """rag.stream.live_answer's events: the answer with the model's drafts, its state and its figures."""
        from rag.stream import live_answer

        if not (question or "").strip():
            raise UserError("Type a question first.")
        episode_id = self.find(episode).id if episode else None
        yield from live_answer(question, episode=episode_id, history=history or None, settings=self.settings,
                               opts=opts, cancel=cancel, store=self.store, embedder=self.embedder)

    def search(self, query: str, episode: str | None = None, k: int = 8, speaker: str | None = None) -> list[dict]:
        from rag.search import SearchError, search

        if not (query or "").strip():
            return []
        episode_id = self.find(episode).id if episode else None
        try:
            result = search(query, k=k, episode=episode_id, settings=self.settings, store=self.store,
                            embedder=self.embedder, speaker=speaker)
        except SearchError as exc:
            raise UserError(display(exc)) from exc
        from rag.answerable import search_floor

        return search_floor(result)[1]  # below the relevance floor: a few nearest, each marked "weak"

    # -- models ------------------------------------------------------------------------------------------------
    def models(self) -> list[dict]:
        """Per role: what is configured, through which backend, and whether this server has it loaded."""
        from rag.llm import is_loaded, is_local, local_backend, task_model

        s = self.settings
        answer_model, summary_model = task_model(s, "answer"), task_model(s, "summary")
        loaded = {
            "asr": self._pipeline is not None and self._pipeline._asr is not None,
            "embed": self._pipeline is not None and self._pipeline._embedder is not None,
            "llm": is_loaded(s, s.llm.model),
            "answers": is_loaded(s, answer_model),
            "summaries": is_loaded(s, summary_model),
        }
        rows = []

        def llm_backend(model: str) -> str:  # what `auto` means for this model: "auto (llamacpp)"
            if not is_local(s) or (s.llm.backend or "auto").lower() != "auto":
                return s.llm.backend
            return f"auto ({local_backend(s, model)})"

        for role in ("asr", "llm", "embed"):
            rs = getattr(s, role)
            backend = llm_backend(rs.model) if role == "llm" else rs.backend
            rows.append({"role": role, "model": rs.model, "backend": backend, "base_url": rs.base_url or "",
                         "loaded": loaded[role]})
            if role == "llm":
                for name, model in (("answers", answer_model), ("summaries", summary_model)):
                    rows.append({"role": f"llm ({name})", "model": model, "backend": llm_backend(model),
                                 "base_url": rs.base_url or "", "loaded": loaded[name]})
        return rows

    def packs(self) -> list[dict]:
        from rag.models.pull import list_packs

        return list_packs(self.settings.models_path)

    def llm_choices(self) -> list[str]:
        """LLM packs that are ready to use, plus whatever is configured now (a folder or hub id)."""
        names = [p["name"] for p in self.packs() if p["role"] == "llm" and p["ready"]]
        if self.settings.llm.model not in names:
            names.insert(0, self.settings.llm.model)
        return names

    def set_llm(self, model: str) -> dict:
        """Switch the LLM for this server (every user): later answers and summaries use it (a model chosen here
        does every task, answers in the mode measured right for it: see rag.answer.default_mode)."""
        from rag.models import PACKS

        model = (model or "").strip()
        if not model:
            raise UserError("choose a model")
        if model in PACKS and PACKS[model].role != "llm":
            raise UserError(f"'{model}' is an {PACKS[model].role} model, not an LLM")
        with self._lock:
            llm = self.settings.llm.model_copy(update={"model": model, "answer_model": model, "summary_model": model})
            self.settings = self.settings.model_copy(update={"llm": llm})
            if self._pipeline is not None:  # --enhance uses the LLM through the pipeline's settings
                self._pipeline.settings = self.settings
        return {"llm": model}
