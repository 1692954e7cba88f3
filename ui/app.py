"""The Gradio Blocks app: Library, Episode, Ask, Chats, Compare, Search, Models, Teach, Benchmarks and Settings tabs over
one page-wide player (one module or function per tab: ui/*_tab.py).

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

import os
import threading
from pathlib import Path
from types import SimpleNamespace

import gradio as gr
from starlette.middleware import Middleware

from rag.gc import start_daily
from rag.private import data_root, private_dir
from ui import ask_tab, bench_tab, chats_tab, compare_tab, episode_tab, library_tab, render, settings_tab, teach_tab
from ui.backend import Backend
from ui.errors import MODELS_QUEUE, friendly, message
from ui.guard import HostGuard, allowed_hosts, login_for

HERE = Path(__file__).resolve().parent

PLAYER_HTML = (
    '<div class="player-row"><span class="label">Now playing</span>'
    '<span id="now-playing">nothing yet — click any timestamp</span>'
    '<audio id="player" controls preload="metadata"></audio></div>'
)


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
        gr.HTML(PLAYER_HTML, elem_id="player-bar")
        open_box = gr.Textbox(visible="hidden", elem_id="open-episode", show_label=False)
        conv_id = gr.State("")  # the conversation the Ask tab shows ("" before the first question)

        with gr.Tabs(selected="library", elem_id="tabs") as tabs:
            lib = library_tab.layout(backend)
            ep = episode_tab.layout()
            ask = ask_tab.layout()
            chats = chats_tab.layout()
            cmp = compare_tab.layout()
            search = _search_layout()
            models = _models_layout()
            teach = teach_tab.layout()
            bench = bench_tab.layout()
            sett = settings_tab.layout(backend)

        from ui import api

        api.register(backend)

        def src_for(episode_id: str) -> str:
            try:
                return backend.src_for(episode_id)
            except Exception:  # noqa: BLE001 — a link without audio still opens the episode
                return ""

        library = library_tab.wire(backend, lib, ep_select=ep.select,
                                   scopes=[ask.scope, search.scope, cmp.scope, teach.scope], tabs=tabs, heavy=heavy,
                                   private=private)
        episode_tab.wire(backend, ep, open_box=open_box, tabs=tabs, refresh_library=library, heavy=heavy,
                         private=private)
        refresh_chats = chats_tab.wire(backend, chats, ask, sett, conv_id, tabs, src_for, private=private)
        ask_tab.wire(backend, ask, sett, conv_id, src_for, heavy=heavy, private=private, after_answer=refresh_chats)
        compare_tab.wire(backend, cmp, sett, src_for, heavy=heavy, private=private)
        _wire_search(backend, search, src_for, heavy=heavy, private=private)
        refresh_models, models_outputs = _wire_models(backend, models, sett, heavy=heavy, private=private)
        bench_tab.wire(backend, bench, heavy=heavy, private=private)
        teach_tab.wire(backend, teach, heavy=heavy, private=private)

        def on_load():
            return (*library[0](), *refresh_models(), *bench_tab.initial(backend), *refresh_chats[0](),
                    *compare_tab.initial(backend), *teach_tab.initial(backend))

        demo.load(friendly(on_load), None, [*library[1], *models_outputs, *bench.initial_outputs, *refresh_chats[1],
                                            cmp.model_a, cmp.model_b, *teach_tab.outputs_of(teach)], **private)
    return demo


def _search_layout() -> SimpleNamespace:
    with gr.Tab("Search", id="search", elem_id="tab-search"):
        with gr.Row():
            query = gr.Textbox(placeholder="Words or a question…", show_label=False, elem_id="search-query", scale=5)
            scope = gr.Dropdown(label="In", choices=[("Whole library", "")], value="", elem_id="search-scope", scale=2)
            speaker = gr.Textbox(label="Said by", placeholder="anyone", elem_id="search-speaker", scale=1)
            k = gr.Slider(1, 30, value=10, step=1, label="Results", scale=1)
            btn = gr.Button("Search", variant="primary", elem_id="search-btn", scale=1)
        results = gr.HTML(render.search_html("", [], lambda _: ""), elem_id="search-results")
    return SimpleNamespace(query=query, scope=scope, k=k, btn=btn, results=results, speaker=speaker)


def _wire_search(backend: Backend, ui: SimpleNamespace, src_for, *, heavy: dict, private: dict) -> None:
    @friendly
    def do_search(q, scope, n, speaker=""):
        if not (q or "").strip():
            gr.Warning("Type something to search for first.")
            return gr.update()
        hits = backend.search(q or "", scope or None, int(n), speaker=(speaker or "").strip() or None)
        return render.search_html(q or "", hits, src_for)

    inputs = [ui.query, ui.scope, ui.k, ui.speaker]
    ui.btn.click(do_search, inputs, ui.results, **heavy, **private)
    ui.query.submit(do_search, inputs, ui.results, **heavy, **private)


ROLE_COLUMNS = ["role", "model", "backend", "server", "loaded"]
ROLE_LABELS = {"llm": "llm (cleanup)"}  # llm.model: what cleans transcripts up; answers and summaries have their rows
PACK_COLUMNS = ["name", "role", "ready", "size (MB)", "format", "description"]


def _models_layout() -> SimpleNamespace:
    with gr.Tab("Models", id="models", elem_id="tab-models"):
        roles = gr.Dataframe(headers=ROLE_COLUMNS, value=[], interactive=False, label="Configured and loaded",
                             elem_id="roles", wrap=True)
        with gr.Row():
            pick = gr.Dropdown(label="LLM for every task (answers, summaries, cleanup)", choices=[], value=None,
                               allow_custom_value=True, elem_id="llm-pick", scale=3)
            btn = gr.Button("Use this LLM", elem_id="llm-btn", scale=1)
        packs = gr.Dataframe(headers=PACK_COLUMNS, value=[], interactive=False,
                             label="Model packs (audiorag models pull NAME)", elem_id="packs", wrap=True)
        refresh = gr.Button("Refresh", size="sm")
    return SimpleNamespace(roles=roles, pick=pick, btn=btn, packs=packs, refresh=refresh)


def _wire_models(backend: Backend, ui: SimpleNamespace, sett: SimpleNamespace, *, heavy: dict, private: dict):
    def refresh():
        roles_rows = [[ROLE_LABELS.get(r["role"], r["role"]), r["model"], r["backend"], r["base_url"],
                       "yes" if r["loaded"] else "no"] for r in backend.models()]
        try:
            pack_rows = [[p["name"], p["role"], "yes" if p["ready"] else "no", p["size_mb"] or "", p["format"],
                          p["description"]] for p in backend.packs()]
            choices = backend.llm_choices()
        except Exception as exc:  # noqa: BLE001 — the roles table is still useful
            gr.Warning(message(exc))
            pack_rows, choices = [], []
        # the dropdown shows the model that answers now (the roles table's "llm (answers)" row)
        answering = next((r["model"] for r in backend.models() if r["role"] == "llm (answers)"),
                         backend.settings.llm.model)
        if answering not in choices:
            choices = [answering, *choices]
        return (roles_rows, pack_rows, gr.update(choices=choices, value=answering),
                gr.update(choices=settings_tab.model_choices(backend)))

    outputs = [ui.roles, ui.packs, ui.pick, sett.model]
    ui.refresh.click(friendly(refresh), None, outputs, **private)

    @friendly
    def switch_llm(name):
        backend.set_llm(name)
        gr.Info(f"LLM is now {name}")

    ui.btn.click(switch_llm, ui.pick, None, **heavy, **private).then(friendly(refresh), None, outputs, **private)
    return refresh, outputs


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
    demo.retention = start_daily(backend.settings, lambda: backend.store)  # type: ignore[attr-defined]  # rag.gc
    demo.queue(default_concurrency_limit=concurrency, max_size=64)
    return demo.launch(prevent_thread_lock=prevent_thread_lock,
                       **launch_kwargs(demo, host=host, port=port, auth=auth, quiet=quiet))
