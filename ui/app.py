"""The Gradio Blocks app: Library, Episode, Ask, Search, Models and Benchmarks tabs over one page-wide player.

Layout choices that matter:
- One native `<audio id="player">` sits above the tabs, so switching tabs never stops playback and every
  timestamp in the app (citations, passages, search hits, transcript lines, chapters) plays in the same place.
  Links are rendered by ui/render.py and handled by ui/player.js (loaded through launch(head=…)).
- Citations open their episode in the Episode tab via a hidden textbox (#open-episode) that the script fills.
- Everything that runs a model shares one queue slot (ui.errors.MODELS_QUEUE); generators stream progress and
  answers, so the page never freezes and concurrent users wait in line instead of failing.
- Handlers return one-line messages through gr.Error/gr.Warning (ui.errors.friendly).
"""

from __future__ import annotations

import html
import os
import threading
from pathlib import Path

import gradio as gr
from starlette.middleware import Middleware

from rag.private import data_root, private_dir
from ui import bench_tab, render
from ui.backend import Backend
from ui.errors import MODELS_QUEUE, friendly, message
from ui.guard import HostGuard, allowed_hosts, login_for

HERE = Path(__file__).resolve().parent

PLAYER_HTML = (
    '<div class="player-row"><span class="label">Now playing</span>'
    '<span id="now-playing">nothing yet — click any timestamp</span>'
    '<audio id="player" controls preload="metadata"></audio></div>'
)

ACCEPT = sorted({".wav", ".mp3", ".m4a", ".aac", ".flac", ".ogg", ".oga", ".opus", ".webm", ".mp4", ".m4v", ".mov",
                 ".mkv", ".wma", ".aiff", ".aif", ".json", ".srt", ".vtt", ".txt"})

# After an episode is shown: put its audio in the player (unless something is playing).
LOAD_PLAYER_JS = """() => {
  const h = document.querySelector('#ep-header .ep-head');
  if (h && window.audiorag) window.audiorag.load(h.dataset.src, h.dataset.episode, h.querySelector('h2')?.textContent);
}"""


def _head() -> str:
    return f"<script>\n{(HERE / 'player.js').read_text(encoding='utf-8')}\n</script>"


def _css() -> str:
    return (HERE / "app.css").read_text(encoding="utf-8")


def build_app(settings=None) -> gr.Blocks:
    """The whole app. `settings` defaults to rag.settings.get_settings(); start it with `launch(app)`."""
    backend = Backend(settings)
    _use_library_upload_cache(backend.settings)
    heavy = dict(concurrency_limit=1, concurrency_id=MODELS_QUEUE)
    private = dict(api_visibility="private")

    # delete_cache: Gradio's copies of uploads and downloads older than a day are removed every hour.
    with gr.Blocks(title="audiorag", analytics_enabled=False, delete_cache=(3600, 86400)) as demo:
        demo.backend = backend  # type: ignore[attr-defined]  # launch() and tests reach the settings through it
        gr.HTML(PLAYER_HTML, elem_id="player-bar", js_on_load=None)
        open_box = gr.Textbox(visible="hidden", elem_id="open-episode", show_label=False)
        history = gr.State([])

        with gr.Tabs(selected="library", elem_id="tabs") as tabs:
            # -- Library --------------------------------------------------------------------------------------
            with gr.Tab("Library", id="library", elem_id="tab-library"):
                with gr.Row():
                    with gr.Column(scale=2):
                        upload = gr.File(label="Recordings or transcripts (audio, video, Whisper JSON, SRT, VTT, TXT)",
                                         file_count="multiple", type="filepath", file_types=ACCEPT,
                                         elem_id="upload")
                    with gr.Column(scale=1):
                        enhance = gr.Checkbox(False, label="Clean up text with the LLM (slower)",
                                              elem_id="enhance")
                        ingest_btn = gr.Button("Add to library", variant="primary", elem_id="ingest-btn")
                        gr.Markdown(f"Up to {backend.settings.max_upload_mb} MB per file. Files are copied into "
                                    "the library folder; nothing leaves this machine.", elem_classes="small")
                progress = gr.HTML("", elem_id="ingest-progress")
                lib_status = gr.Markdown("Loading the library…", elem_id="lib-status")
                episodes = gr.Dataframe(headers=render.EPISODE_COLUMNS, value=[], interactive=False,
                                        label="Episodes", elem_id="episodes", show_search="search", wrap=True)
                with gr.Row():
                    lib_ep = gr.Dropdown(label="Episode", choices=[], value=None, elem_id="lib-episode", scale=3)
                    open_btn = gr.Button("Open", elem_id="open-btn", scale=1)
                    delete_btn = gr.Button("Delete…", variant="stop", elem_id="delete-btn", scale=1)
                    refresh_btn = gr.Button("Refresh", elem_id="refresh-btn", scale=1)
                with gr.Group(visible=False, elem_id="confirm-delete") as confirm:
                    confirm_text = gr.Markdown("", elem_id="confirm-text")
                    with gr.Row():
                        confirm_yes = gr.Button("Delete permanently", variant="stop", elem_id="confirm-yes")
                        confirm_no = gr.Button("Cancel", elem_id="confirm-no")

            # -- Episode --------------------------------------------------------------------------------------
            with gr.Tab("Episode", id="episode", elem_id="tab-episode"):
                ep_select = gr.Dropdown(label="Episode", choices=[], value=None, elem_id="ep-select")
                ep_header = gr.HTML("<p class='muted'>Choose an episode.</p>", elem_id="ep-header", js_on_load=None)
                with gr.Row():
                    with gr.Column(scale=3):
                        gr.Markdown("#### Transcript — click a line to play from there")
                        ep_transcript = gr.HTML("", elem_id="ep-transcript", js_on_load=None)
                    with gr.Column(scale=2):
                        ep_meta = gr.HTML("", elem_id="ep-meta", js_on_load=None)
                        summarize_btn = gr.Button("Generate summary", elem_id="summarize-btn")
                        gr.Markdown("#### Export")
                        with gr.Row():
                            dl = {fmt: gr.DownloadButton(fmt.upper() if fmt != "md" else "Markdown", value=None,
                                                         interactive=False, size="sm", elem_id=f"export-{fmt}")
                                  for fmt in ("srt", "vtt", "json", "md")}

            # -- Ask ------------------------------------------------------------------------------------------
            with gr.Tab("Ask", id="ask", elem_id="tab-ask"):
                with gr.Row():
                    with gr.Column(scale=3):
                        ask_scope = gr.Dropdown(label="Ask about", choices=[("Whole library", "")], value="",
                                                elem_id="ask-scope")
                        chat = gr.Chatbot(label="Answers cite the moment: click a source to hear it",
                                          elem_id="chat", height=460, feedback_options=None,
                                          buttons=["copy"])
                        with gr.Row():
                            question = gr.Textbox(placeholder="Ask about your recordings…", show_label=False,
                                                  elem_id="question", scale=5, lines=1)
                            ask_btn = gr.Button("Ask", variant="primary", elem_id="ask-btn", scale=1)
                            clear_btn = gr.Button("New chat", elem_id="clear-btn", scale=1)
                    with gr.Column(scale=2):
                        passages = gr.HTML(render.passages_html([], lambda _: ""), elem_id="passages",
                                           js_on_load=None)

            # -- Search ---------------------------------------------------------------------------------------
            with gr.Tab("Search", id="search", elem_id="tab-search"):
                with gr.Row():
                    query = gr.Textbox(placeholder="Words or a question…", show_label=False, elem_id="search-query",
                                       scale=5)
                    search_scope = gr.Dropdown(label="In", choices=[("Whole library", "")], value="",
                                               elem_id="search-scope", scale=2)
                    k = gr.Slider(1, 30, value=10, step=1, label="Results", scale=1)
                    search_btn = gr.Button("Search", variant="primary", elem_id="search-btn", scale=1)
                results = gr.HTML(render.search_html("", [], lambda _: ""), elem_id="search-results",
                                  js_on_load=None)

            # -- Models ---------------------------------------------------------------------------------------
            with gr.Tab("Models", id="models", elem_id="tab-models"):
                roles = gr.Dataframe(headers=["role", "model", "backend", "base_url", "loaded"], value=[],
                                     interactive=False, label="Configured and loaded", elem_id="roles")
                with gr.Row():
                    llm_pick = gr.Dropdown(label="LLM for answers and summaries", choices=[], value=None,
                                           allow_custom_value=True, elem_id="llm-pick", scale=3)
                    llm_btn = gr.Button("Use this LLM", elem_id="llm-btn", scale=1)
                packs = gr.Dataframe(headers=["name", "role", "ready", "size_mb", "format", "description"],
                                     value=[], interactive=False, label="Model packs (audiorag models pull NAME)",
                                     elem_id="packs")
                models_refresh = gr.Button("Refresh", size="sm")

            # -- Benchmarks -----------------------------------------------------------------------------------
            with gr.Tab("Benchmarks", id="bench", elem_id="tab-bench"):
                bench_note = gr.Markdown("", elem_id="bench-note")
                with gr.Row():
                    bench_which = gr.CheckboxGroup(choices=[], value=["search", "embed", "llm"],
                                                   label="Benchmarks to run (quick mode)", elem_id="bench-which",
                                                   scale=3)
                    bench_btn = gr.Button("Run quick benchmark", variant="primary", elem_id="bench-btn", scale=1)
                bench_runs = gr.Dropdown(label="Runs (newest first)", choices=[], value=None, elem_id="bench-runs")
                bench_status = gr.Markdown("", elem_id="bench-status")
                bench_table = gr.Dataframe(headers=bench_tab.TABLE_COLUMNS, value=[], interactive=False,
                                           label="Results", elem_id="bench-table", wrap=True)
                with gr.Row():
                    bench_chart = gr.Image(label="Chart", type="filepath", interactive=False, elem_id="bench-chart",
                                           scale=3)
                    bench_csv = gr.File(label="CSV of this run", interactive=False, elem_id="bench-csv", scale=1)

        from ui import api


        api.register(backend)

        # -- handlers -------------------------------------------------------------------------------------------
        def src_for(episode_id: str) -> str:
            try:
                return backend.src_for(episode_id)
            except Exception:  # noqa: BLE001 — a link without audio still opens the episode
                return ""

        def refresh_library():
            eps = backend.episodes(include_incomplete=True)
            ready = [e for e in eps if e.status == "ready"]
            choices = render.episode_choices(eps)
            scoped = [("Whole library", "")] + render.episode_choices(ready)
            where = backend.settings.data_dir
            return (
                f"**{len(eps)} episode(s)**, {len(ready)} ready · library: `{where}`",
                render.episode_rows(eps),
                gr.update(choices=choices),
                gr.update(choices=choices),
                gr.update(choices=scoped),
                gr.update(choices=scoped),
            )

        library_outputs = [lib_status, episodes, lib_ep, ep_select, ask_scope, search_scope]

        @friendly
        def do_ingest(files, enhance_text):
            if not files:
                raise gr.Error("Choose one or more files first.")
            rows: list[dict] = []
            for rows in backend.ingest(list(files), enhance=bool(enhance_text)):
                done = sum(1 for r in rows if r.get("status"))
                yield render.progress_html(rows) + f"<p class='small muted'>{done}/{len(rows)} file(s) done</p>"
            failed = [r for r in rows if r.get("status") == "failed"]
            ok = [r for r in rows if r.get("status") in ("ingested", "unchanged")]
            if failed:
                gr.Warning("; ".join(f"{r['name']}: {r.get('reason')}" for r in failed))
            if ok:
                gr.Info(f"{len(ok)} file(s) in the library")
            yield render.progress_html(rows)

        ingest_btn.click(do_ingest, [upload, enhance], progress, show_progress="minimal", **heavy, **private) \
            .then(friendly(refresh_library), None, library_outputs, **private) \
            .then(lambda: None, None, upload, **private)
        refresh_btn.click(friendly(refresh_library), None, library_outputs, **private)

        def pick_row(evt: gr.SelectData):
            row = evt.row_value or []
            short = row[-1] if row else None
            if not short:
                return gr.update()
            match = [e.id for e in backend.episodes(include_incomplete=True) if e.id.startswith(short)]
            return gr.update(value=match[0]) if match else gr.update()

        episodes.select(pick_row, None, lib_ep, **private)

        @friendly
        def ask_delete(ep_id):
            ep = backend.find(ep_id)
            return (gr.update(visible=True),
                    f"**Delete “{ep.title}”?** Its audio copy, transcript and vectors are removed; this cannot "
                    "be undone.")

        delete_btn.click(ask_delete, lib_ep, [confirm, confirm_text], **private)
        confirm_no.click(lambda: gr.update(visible=False), None, confirm, **private)

        @friendly
        def do_delete(ep_id, shown_id):
            res = backend.delete(ep_id)
            gr.Info(f"Deleted “{res['title']}”")
            # the Episode tab must not keep showing what no longer exists
            return gr.update(visible=False), None, (None if shown_id == res["deleted"] else gr.update())

        confirm_yes.click(do_delete, [lib_ep, ep_select], [confirm, lib_ep, ep_select], **private) \
            .then(friendly(refresh_library), None, library_outputs, **private)

        # Episode tab
        empty_episode = ("<p class='muted'>Choose an episode.</p>", "", "",
                         *[gr.update(value=None, interactive=False) for _ in dl])

        @friendly
        def show_episode(ep_id):
            if not ep_id:
                return empty_episode
            ep = backend.find(ep_id)
            segs = backend.segments(ep.id)
            src = render.audio_url(backend.audio_file(ep))
            files = {fmt: api.write_export(backend, ep.id, fmt) for fmt in dl}
            return (render.episode_header_html(ep, src), render.transcript_html(ep, segs, src),
                    render.meta_html(ep, src),
                    *[gr.update(value=files[f], interactive=files[f] is not None) for f in dl])

        episode_outputs = [ep_header, ep_transcript, ep_meta, *dl.values()]
        ep_select.change(show_episode, ep_select, episode_outputs, **private) \
            .then(None, None, None, js=LOAD_PLAYER_JS, **private)

        def open_episode(value):
            ep_id = (value or "").split("|")[0]
            if not ep_id:
                return gr.update(), gr.update()
            return gr.Tabs(selected="episode"), gr.update(value=ep_id)

        open_box.change(open_episode, open_box, [tabs, ep_select], **private)  # the value carries a nonce
        open_btn.click(lambda e: (gr.Tabs(selected="episode"), gr.update(value=e)) if e else (gr.update(), gr.update()),
                       lib_ep, [tabs, ep_select], **private)

        @friendly
        def do_summarize(ep_id):
            ep = backend.find(ep_id)
            backend.summarize(ep.id)
            gr.Info("Summary generated")
            return show_episode(ep.id)

        summarize_btn.click(do_summarize, ep_select, episode_outputs, **heavy, **private) \
            .then(friendly(refresh_library), None, library_outputs, **private)

        # Ask tab
        @friendly
        def do_ask(q, scope, messages, hist):
            q = (q or "").strip()
            if not q:
                raise gr.Error("Type a question first.")
            messages = list(messages or []) + [{"role": "user", "content": q},
                                               {"role": "assistant", "content": "…"}]
            yield messages, gr.update(), hist, ""
            text, query = "", q
            for ev in backend.ask(q, scope or None, hist):
                if ev["type"] == "warning":
                    gr.Warning(ev["text"])
                elif ev["type"] == "query":
                    query = ev["text"]
                elif ev["type"] == "passages":
                    yield messages, render.passages_html(ev["passages"], src_for), hist, ""
                elif ev["type"] == "token":
                    text += ev["text"]
                    messages[-1] = {"role": "assistant", "content": html.escape(text)}
                    yield messages, gr.update(), hist, ""
                elif ev["type"] == "final":
                    a = ev["answer"]
                    messages[-1] = {"role": "assistant",
                                    "content": render.answer_markdown(a.answer, a.citations, src_for)}
                    heading = "Closest passages (not an answer)" if a.abstained else "Retrieved passages"
                    hist = list(hist or []) + [{"role": "user", "content": q, "query": query},
                                               {"role": "assistant", "content": a.answer}]
                    yield messages, render.passages_html(ev.get("passages", []), src_for, heading), hist, ""

        ask_inputs = [question, ask_scope, chat, history]
        ask_outputs = [chat, passages, history, question]
        ask_btn.click(do_ask, ask_inputs, ask_outputs, show_progress="minimal", **heavy, **private)
        question.submit(do_ask, ask_inputs, ask_outputs, show_progress="minimal", **heavy, **private)
        clear_btn.click(lambda: ([], [], render.passages_html([], lambda _: "")), None, [chat, history, passages],
                        **private)
        chat.clear(lambda: ([], render.passages_html([], lambda _: "")), None, [history, passages], **private)

        # Search tab
        @friendly
        def do_search(q, scope, n):
            return render.search_html(q or "", backend.search(q or "", scope or None, int(n)), src_for)

        search_btn.click(do_search, [query, search_scope, k], results, **heavy, **private)
        query.submit(do_search, [query, search_scope, k], results, **heavy, **private)

        # Models tab
        def refresh_models():
            roles_rows = [[r["role"], r["model"], r["backend"], r["base_url"], "yes" if r["loaded"] else "no"]
                          for r in backend.models()]
            try:
                pack_rows = [[p["name"], p["role"], "yes" if p["ready"] else "no", p["size_mb"] or "",
                              p["format"], p["description"]] for p in backend.packs()]
                choices = backend.llm_choices()
            except Exception as exc:  # noqa: BLE001 — the roles table is still useful
                gr.Warning(message(exc))
                pack_rows, choices = [], [backend.settings.llm.model]
            return roles_rows, pack_rows, gr.update(choices=choices, value=backend.settings.llm.model)

        models_outputs = [roles, packs, llm_pick]
        models_refresh.click(friendly(refresh_models), None, models_outputs, **private)

        @friendly
        def switch_llm(name):
            backend.set_llm(name)
            gr.Info(f"LLM is now {name}")

        llm_btn.click(switch_llm, llm_pick, None, **heavy, **private) \
            .then(friendly(refresh_models), None, models_outputs, **private)

        # Benchmarks tab
        bench_tab.wire(backend, run_btn=bench_btn, which=bench_which, runs=bench_runs, status=bench_status,
                       table=bench_table, chart=bench_chart, csv_file=bench_csv, heavy=heavy, private=private)

        def on_load():
            return (*refresh_library(), *refresh_models(), *bench_tab.initial(backend))

        demo.load(friendly(on_load), None,
                  [*library_outputs, *models_outputs, bench_note, bench_runs, bench_btn, bench_which], **private)
    return demo


def _use_library_upload_cache(settings) -> None:
    """Point Gradio's upload cache inside the library folder, so uploaded files never land anywhere else.

    Set before any component is built and before the server starts: Gradio reads it at both moments, and checks
    uploaded paths against it on every request."""
    if settings.is_remote_store:
        return
    tmp = Path(settings.data_dir).expanduser().resolve() / ".gradio"
    tmp.mkdir(parents=True, exist_ok=True)
    os.environ["GRADIO_TEMP_DIR"] = str(tmp)


def _warm(backend: Backend) -> None:
    try:
        backend.store
    except Exception:  # noqa: BLE001 — the page shows the error when it asks for the library
        pass


def launch_kwargs(demo: gr.Blocks, *, host: str = "127.0.0.1", port: int | None = None,
                  auth: tuple[str, str] | None = None, quiet: bool = False) -> dict:
    """Everything the app needs from launch(): offline assets, the audio folder served, the upload limit."""
    settings = demo.backend.settings  # type: ignore[attr-defined]
    # Only our private folders (rag.private): the library's own, or this process's 0700 temp dir.
    allowed = [str(private_dir(settings, "exports").resolve())]
    if settings.is_remote_store:
        allowed.append(str(private_dir(settings, "audio-cache").resolve()))  # cached copies of remote audio
    else:
        data = data_root(settings).resolve()
        allowed += [str(data / "audio"), str(data / "bench")]
    guard = Middleware(HostGuard, hosts=allowed_hosts(host, settings.allowed_hosts))
    return dict(
        app_kwargs={"middleware": [guard]},  # Host/Origin check on every route (ui/guard.py)
        server_name=host,
        server_port=port,
        auth=auth,
        auth_message="audiorag: sign in" if auth else None,
        allowed_paths=allowed,
        max_file_size=f"{settings.max_upload_mb}mb",
        share=False,
        ssr_mode=False,
        mcp_server=False,
        pwa=False,
        quiet=quiet,
        show_error=True,
        footer_links=["api", "settings"],
        css=_css(),
        head=_head(),
    )


def launch(demo: gr.Blocks | None = None, *, settings=None, host: str = "127.0.0.1", port: int | None = None,
           auth: tuple[str, str] | None = None, prevent_thread_lock: bool = False, quiet: bool = False,
           concurrency: int = 4):
    """Start the app; returns (app, local_url, share_url) like Blocks.launch. Bound to 127.0.0.1 unless `host`
    says otherwise; never shared through Gradio's tunnel."""
    demo = demo or build_app(settings)
    backend = demo.backend  # type: ignore[attr-defined]
    auth, _ = login_for(host, auth)  # beyond loopback: never without a login
    _use_library_upload_cache(backend.settings)
    # Open the library while the server starts, so the first page load does not wait for it.
    threading.Thread(target=_warm, args=(backend,), name="open library", daemon=True).start()
    demo.queue(default_concurrency_limit=concurrency, max_size=64)
    return demo.launch(prevent_thread_lock=prevent_thread_lock,
                       **launch_kwargs(demo, host=host, port=port, auth=auth, quiet=quiet))
