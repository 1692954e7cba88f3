"""The app's stable API for `gradio_client` (documented in docs/api.md). Plain JSON in and out.

No `from __future__ import annotations` here: `gr.api` reads each function's type hints at definition time to
build the endpoint's schema, and string annotations would not resolve to types.
"""


import gradio as gr

from ui import bench_tab
from ui.backend import Backend
from ui.errors import MODELS_QUEUE, friendly


def citation_dict(c) -> dict:
    return {"episode_id": c.episode_id, "title": c.title, "start": round(c.start, 3), "end": round(c.end, 3),
            "text": c.text}


def episode_dict(e) -> dict:
    return {"id": e.id, "title": e.title, "source": e.source, "duration": e.duration, "language": e.language,
            "status": e.status, "tags": list(e.tags), "created": e.created.isoformat(), "summary": e.summary,
            "description": e.description, "chapters": [c.model_dump() for c in e.chapters],
            "has_audio": bool(e.audio_path)}


def register(backend: Backend) -> None:
    """Add the API endpoints to the Blocks being built (call inside `with gr.Blocks()`)."""
    heavy = dict(concurrency_limit=1, concurrency_id=MODELS_QUEUE)
    register_edits_and_chats(backend, heavy)
    register_library(backend, heavy)
    register_ask(backend, heavy)
    register_models_and_bench(backend, heavy)
    register_ingest(backend, heavy)
    register_teach(backend)


def register_library(backend: Backend, heavy: dict) -> None:
    """Endpoints over the library: episodes, search, speakers, summaries, exports."""

    @friendly
    def list_episodes(include_incomplete: bool = False) -> list:
        """Episodes in the library: id, title, source, duration, language, status, tags, created, summary…"""
        return [episode_dict(e) for e in backend.episodes(include_incomplete=include_incomplete)]

    @friendly
    def get_episode(episode: str) -> dict:
        """One episode (id, unique id prefix or title) with its timed segments."""
        ep = backend.find(episode)
        segs = backend.segments(ep.id)
        return {**episode_dict(ep),
                "segments": [{"id": s.id, "start": s.start, "end": s.end, "text": s.text} for s in segs]}

    @friendly
    def search(query: str, episode: str = "", k: int = 8, speaker: str = "") -> list:
        """Hybrid search: segment-level passages {episode_id, title, start, end, text, score, speaker}, best first
        (with `speaker`, only what that speaker says)."""
        return backend.search(query, episode or None, int(k), speaker=speaker or None)

    @friendly
    def speakers(episode: str, rename: str = "") -> list:
        """An episode's speakers {id, name, seconds, proposed}; `rename` ("S1=Diane, S2=Sheila") names them first."""
        from rag.voices import parse_renames, rename as apply, speaker_rows

        ep = backend.find(episode)
        if rename.strip():
            apply(backend.store, ep.id, parse_renames([rename]))
        return speaker_rows(backend.store, ep.id)

    @friendly
    def summarize(episode: str) -> dict:
        """(Re)generate and store an episode's summary, title, description, tags and chapters."""
        return backend.summarize(episode)

    @friendly
    def export(episode: str, format: str = "srt") -> str:
        """An episode's transcript as srt, vtt, json, md or txt (the file's text)."""
        return backend.export(episode, format)[1]

    @friendly
    def delete_episode(episode: str) -> dict:
        """Delete an episode: its audio copy, rows and vectors together. No confirmation: the caller decides."""
        return backend.delete(episode)

    gr.api(list_episodes, api_name="list_episodes")
    gr.api(get_episode, api_name="get_episode")
    gr.api(search, api_name="search", **heavy)
    gr.api(speakers, api_name="speakers")
    gr.api(summarize, api_name="summarize", **heavy)
    gr.api(export, api_name="export")
    gr.api(delete_episode, api_name="delete_episode")


def register_ask(backend: Backend, heavy: dict) -> None:
    """The streamed answer endpoint."""

    @friendly
    def ask(question: str, episode: str = "", history: list = []) -> dict:  # noqa: B006 (gr.api needs a literal)
        """Answer a question from the library, streamed. Every update is {answer, draft, state, done, ttft, tps}
        (draft: the model's newest words, not yet checked); the last one (done=true) adds abstained, citations
        [{episode_id, title, start, end, text}], passages and warnings, and the answer's parts: lead (the
        statement that answers), span {text, start, end, citation} (the words that answer, as character offsets
        into that citation's text), query (the standalone question searched), scope (library or episode).
        `history` is earlier turns as [{"role": "user"|"assistant", "content": …}]."""
        text = draft = ""
        state, stats = "retrieving", {}
        passages: list = []
        warnings: list = []
        for ev in backend.ask(question, episode or None, history or None):
            if ev["type"] == "warning":
                warnings.append(ev["text"])
            elif ev["type"] == "passages":
                passages = ev["passages"]
            elif ev["type"] == "state":
                state = ev["state"]
            elif ev["type"] == "stats":
                stats = {k: ev[k] for k in ("ttft", "tps", "tokens", "model")}
            elif ev["type"] == "draft":
                draft += ev["text"]
                yield {"answer": text, "draft": draft, "state": state, "done": False, **stats}
            elif ev["type"] == "token":
                text, draft = text + ev["text"], ""
                yield {"answer": text, "draft": "", "state": state, "done": False, **stats}
            elif ev["type"] == "final":
                a = ev["answer"]
                yield {"answer": a.answer, "abstained": a.abstained, "done": True, "state": "done",
                       "citations": [citation_dict(c) for c in a.citations], "passages": passages,
                       "warnings": warnings, "lead": a.lead, "lead_by_model": a.lead_by_model,
                       "span": a.span.model_dump() if a.span else None, "query": a.query, "scope": a.scope, **stats}

    gr.api(ask, api_name="ask", **heavy)


def register_models_and_bench(backend: Backend, heavy: dict) -> None:
    """Endpoints for the models in use and the benchmark history."""

    @friendly
    def models() -> dict:
        """Configured model and backend per role (and whether this server has loaded it), plus the model packs."""
        # A dict with a "path" key looks like a file to gradio_client (it would try to download it): say "folder".
        packs = [{("folder" if k == "path" else k): v for k, v in p.items()} for p in backend.packs()]
        return {"roles": backend.models(), "packs": packs}

    @friendly
    def privacy(limit: int = 100) -> dict:
        """Where each role's data goes ({role, where, remote, detail}; rag.privacy), the page's one-line summary,
        and the newest `limit` audit-log events (remote calls and deletions: when, host, bytes; never content)."""
        from rag.audit import read
        from rag.privacy import sentence, statement

        settings = backend.settings
        return {"roles": [r.to_dict() for r in statement(settings)], "summary": sentence(settings),
                "audit": read(settings, limit=max(1, int(limit)))}

    @friendly
    def features(episode: str = "") -> list:
        """What can be done (rag.features): per feature and provider, where it runs and whether it is available
        (for `episode` when given: an episode without an audio copy cannot be transcribed again or heard)."""
        from rag.features import listing

        return listing(backend.settings, backend.find(episode) if episode else None)

    @friendly
    def set_llm(model: str) -> dict:
        """Switch the server's LLM (a pack name, local folder or hub id) for later answers and summaries."""
        return backend.set_llm(model)

    @friendly
    def bench_runs() -> list:
        """Earlier benchmark runs, newest first: run_id, started, machine, benches, rows, quick, errors."""
        mod = bench_tab.bench_module()
        return [] if mod is None else [{k: v for k, v in r.items() if k != "png"} for r in mod.list_runs(backend.settings)]

    @friendly
    def bench_rows(run_id: str) -> list:
        """The rows of one benchmark run: bench, backend, model, metric, value, unit, notes, machine…"""
        mod = bench_tab.bench_module()
        if mod is None:
            raise gr.Error("the benchmark package (rag.bench) is not available in this build")
        return mod.rows_of_run(run_id, backend.settings)

    @friendly
    def run_bench(benches: list = ["search"]) -> list:  # noqa: B006 (gr.api needs a literal)
        """Run benchmarks in quick mode (names from: search, embed, asr, llm, ingest); returns this run's rows,
        which are also appended to the library's bench history."""
        mod = bench_tab.bench_module()
        if mod is None:
            raise gr.Error("the benchmark package (rag.bench) is not available in this build")
        return mod.run_bench(list(benches) or None, quick=True, settings=backend.settings)

    gr.api(models, api_name="models")
    gr.api(set_llm, api_name="set_llm")
    gr.api(privacy, api_name="privacy")
    gr.api(features, api_name="features")
    gr.api(bench_runs, api_name="bench_runs")
    gr.api(bench_rows, api_name="bench_rows")
    gr.api(run_bench, api_name="run_bench", **heavy)


def register_ingest(backend: Backend, heavy: dict) -> None:
    """The ingest endpoint."""
    # Ingest takes files, so it goes through a real File component (Gradio checks and moves uploaded files for
    # components; a bare gr.api would receive unchecked paths). The components are never shown.
    with gr.Group(visible=False):
        files = gr.File(file_count="multiple", type="filepath", label="files")
        enhance = gr.Checkbox(False, label="enhance")
        out = gr.JSON(label="results")
        trigger = gr.Button("ingest")

    @friendly
    def ingest(files: list[str] | None, enhance: bool) -> list[dict]:
        """Ingest uploaded recordings or transcripts; one result per file: name, status, reason, episode_id, title…"""
        if not files:
            raise gr.Error("no files given")
        rows: list[dict] = []
        for rows in backend.ingest(list(files), enhance=bool(enhance)):
            pass
        return [{k: v for k, v in r.items() if k not in ("stage", "fraction")} for r in rows]

    trigger.click(ingest, [files, enhance], out, api_name="ingest", **heavy)


def register_edits_and_chats(backend: Backend, heavy: dict) -> None:
    """Endpoints that correct a transcript and look after stored conversations (docs/api.md)."""

    @friendly
    def rename_episode(episode: str, title: str) -> dict:
        """Give an episode a new title: {episode_id, title}."""
        return backend.rename(episode, title)

    @friendly
    def edit_segment(episode: str, segment: int, text: str = "", revert: bool = False) -> dict:
        """Correct one transcript segment's text (same id and times; the original is kept), or put the original
        back with revert=true. Search, answers and exports use the corrected text at once."""
        return backend.edit_segment(episode, int(segment), text, bool(revert))

    @friendly
    def list_chats() -> list:
        """Stored conversations, most recent first: id, title, created, updated, questions, episode."""
        return [{"id": c.id, "title": c.title, "created": c.created.isoformat(), "updated": c.updated.isoformat(),
                 "questions": len(c.turns), "episode": c.episode} for c in backend.chats.list()]

    @friendly
    def get_chat(chat: str) -> dict:
        """One conversation with its turns, citations (episode_id, title, start, end, label) and settings."""
        from rag.chats import to_json

        return to_json(backend.chats.get(chat))

    @friendly
    def export_chat(chat: str, format: str = "md") -> str:
        """A conversation as Markdown or JSON text (every citation as [Title @ mm:ss], episode id and seconds)."""
        from rag.chats import export as export_conversation

        return export_conversation(backend.chats.get(chat), format)

    @friendly
    def rename_chat(chat: str, title: str) -> dict:
        """Give a conversation a new title: {id, title}."""
        conv = backend.chats.rename(chat, title)
        return {"id": conv.id, "title": conv.title}

    @friendly
    def delete_chat(chat: str) -> dict:
        """Delete a conversation: {deleted: id, title}."""
        conv = backend.chats.delete(chat)
        return {"deleted": conv.id, "title": conv.title}

    for fn in (rename_episode, list_chats, get_chat, export_chat, rename_chat, delete_chat):
        gr.api(fn, api_name=fn.__name__)
    gr.api(edit_segment, api_name="edit_segment", **heavy)


def register_teach(backend: Backend) -> None:
    """The Teach tab's data (ui/teach.py): the vocabulary, the corrections and the adapters."""
    from ui import teach

    def entries(episode: str) -> list:
        from rag import vocab

        return [e.model_dump(mode="json") for e in vocab.entries(backend.store, episode or None)]

    @friendly
    def vocabulary(episode: str = "") -> list:
        """The vocabulary as [{word, episode_id, added}]: the library's then each episode's, or (with `episode`)
        that episode's own entries."""
        return entries(episode)

    @friendly
    def add_vocabulary(words: str, episode: str = "") -> list:
        """Add names or terms (comma-separated) to the library's list, or to one episode's; returns that list."""
        teach.add_words(backend, words, episode or None)
        return entries(episode)

    @friendly
    def remove_vocabulary(words: str, episode: str = "") -> list:
        """Remove entries (comma-separated) from every list, or from one episode's; returns that list."""
        teach.remove_words(backend, words, episode or None)
        return entries(episode)

    @friendly
    def corrections() -> list:
        """Every transcript correction: {episode_id, title, segment_id, start, end, heard, corrected, edited}, the
        lines `audiorag corrections export` writes."""
        return teach.corrections(backend)

    @friendly
    def adapters() -> list:
        """The fine-tuned adapters, as `audiorag models list --json` shows them: name, base, data, figures…"""
        return teach.adapters(backend)

    for fn in (vocabulary, add_vocabulary, remove_vocabulary, corrections, adapters):
        gr.api(fn, api_name=fn.__name__)


def write_export(backend: Backend, episode_id: str, fmt: str) -> str | None:
    """Write an export to a temp file for a download button; None when the format cannot express it."""
    try:
        name, text = backend.export(episode_id, fmt)
    except Exception:  # noqa: BLE001 — e.g. SRT of a transcript without times: that button stays disabled
        return None
    from rag.private import private_dir, write_private

    return str(write_private(private_dir(backend.settings, "exports", episode_id[:16]), name, text))

