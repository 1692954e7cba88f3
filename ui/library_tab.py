"""The Library tab: add recordings or transcripts (with per-file progress), the episodes table, open and delete."""

from __future__ import annotations

from types import SimpleNamespace

import gradio as gr

from ui import render
from ui.errors import friendly

ACCEPT = sorted({".wav", ".mp3", ".m4a", ".aac", ".flac", ".ogg", ".oga", ".opus", ".webm", ".mp4", ".m4v", ".mov",
                 ".mkv", ".wma", ".aiff", ".aif", ".json", ".srt", ".vtt", ".txt"})


def failure_line(row: dict) -> str:
    """`name: reason`, capitalised, without the name twice when the reason already starts with it."""
    reason = str(row.get("reason") or "failed")
    if reason.lower().startswith(f"{row['name']}:".lower()):
        reason = reason[len(row["name"]) + 1:].strip()
    return f"{row['name']}: {reason[:1].upper()}{reason[1:]}"


def upload_note(settings) -> str:
    """The line under the upload button: the size limit, and truthfully what leaves this machine (rag.privacy)."""
    from rag.privacy import sentence

    return (f"Up to {settings.max_upload_mb} MB per file. Files are copied into the library. {sentence(settings)} "
            "(Settings tab: who does what, and the audit log.)")


def layout(backend) -> SimpleNamespace:
    with gr.Tab("Library", id="library", elem_id="tab-library"):
        with gr.Row():
            with gr.Column(scale=2):
                upload = gr.File(label="Recordings or transcripts (audio, video, Whisper JSON, SRT, VTT, TXT)",
                                 file_count="multiple", type="filepath", file_types=ACCEPT, elem_id="upload")
            with gr.Column(scale=1):
                enhance = gr.Checkbox(False, label="Clean up text with the LLM (slower)", elem_id="enhance")
                ingest_btn = gr.Button("Add to library", variant="primary", elem_id="ingest-btn")
                gr.Markdown(upload_note(backend.settings), elem_classes="small", elem_id="privacy-line")
        progress = gr.HTML("", elem_id="ingest-progress")
        status = gr.Markdown("Loading the library…", elem_id="lib-status")
        episodes = gr.Dataframe(headers=render.EPISODE_COLUMNS, value=[], interactive=False, label="Episodes",
                                elem_id="episodes", show_search="search", wrap=True)
        with gr.Row():
            pick = gr.Dropdown(label="Episode", choices=[], value=None, elem_id="lib-episode", scale=3)
            open_btn = gr.Button("Open", elem_id="open-btn", scale=1)
            delete_btn = gr.Button("Delete…", variant="stop", elem_id="delete-btn", scale=1)
            refresh_btn = gr.Button("Refresh", elem_id="refresh-btn", scale=1)
        with gr.Group(visible=False, elem_id="confirm-delete") as confirm:
            confirm_text = gr.Markdown("", elem_id="confirm-text")
            with gr.Row():
                confirm_yes = gr.Button("Delete permanently", variant="stop", elem_id="confirm-yes")
                confirm_no = gr.Button("Cancel", elem_id="confirm-no")
    return SimpleNamespace(upload=upload, enhance=enhance, ingest_btn=ingest_btn, progress=progress, status=status,
                           episodes=episodes, pick=pick, open_btn=open_btn, delete_btn=delete_btn,
                           refresh_btn=refresh_btn, confirm=confirm, confirm_text=confirm_text,
                           confirm_yes=confirm_yes, confirm_no=confirm_no)


def wire(backend, ui: SimpleNamespace, *, ep_select, scopes: list, tabs, heavy: dict, private: dict):
    """Returns (refresh function, its outputs): the table and every episode dropdown in the app."""

    def refresh():
        eps = backend.episodes(include_incomplete=True)
        ready = [e for e in eps if e.status == "ready"]
        choices = render.episode_choices(eps)
        scoped = [("Whole library", "")] + render.episode_choices(ready)
        return (f"**{len(eps)} episode{'' if len(eps) == 1 else 's'}**, {len(ready)} ready", render.episode_rows(eps),
                gr.update(choices=choices), gr.update(choices=choices), *[gr.update(choices=scoped) for _ in scopes])

    outputs = [ui.status, ui.episodes, ui.pick, ep_select, *scopes]

    do_ingest = _ingester(backend, refresh, outputs)

    # Choosing files again replaces the selection (Gradio's File adds them to what it holds).
    chosen = gr.State([])

    def replace_selection(files, before):
        files = list(files or [])
        fresh = [f for f in files if f not in (before or [])] or files
        return fresh, fresh

    ui.upload.upload(replace_selection, [ui.upload, chosen], [ui.upload, chosen], **private)
    ui.upload.clear(lambda: [], None, chosen, **private)

    ui.ingest_btn.click(do_ingest, [ui.upload, ui.enhance], [ui.progress, *outputs], show_progress="minimal",
                        **heavy, **private) \
        .then(lambda: (None, []), None, [ui.upload, chosen], **private)
    ui.refresh_btn.click(friendly(refresh), None, outputs, **private)

    def pick_row(evt: gr.SelectData):
        row = evt.row_value or []
        short = row[-1] if row else None
        if not short:
            return gr.update()
        match = [e.id for e in backend.episodes(include_incomplete=True) if e.id.startswith(short)]
        return gr.update(value=match[0]) if match else gr.update()

    ui.episodes.select(pick_row, None, ui.pick, **private)

    @friendly
    def ask_delete(ep_id):
        ep = backend.find(ep_id)
        return (gr.update(visible=True),
                f"**Delete “{ep.title}”?** Its audio copy, transcript and vectors are removed; this cannot be undone.")

    ui.delete_btn.click(ask_delete, ui.pick, [ui.confirm, ui.confirm_text], **private)
    ui.confirm_no.click(lambda: gr.update(visible=False), None, ui.confirm, **private)

    @friendly
    def do_delete(ep_id, shown_id):
        res = backend.delete(ep_id)
        gr.Info(f"Deleted “{res['title']}”")
        # the Episode tab must not keep showing what no longer exists
        return gr.update(visible=False), None, (None if shown_id == res["deleted"] else gr.update())

    ui.confirm_yes.click(do_delete, [ui.pick, ep_select], [ui.confirm, ui.pick, ep_select], **private) \
        .then(friendly(refresh), None, outputs, **private)
    ui.open_btn.click(lambda e: (gr.Tabs(selected="episode"), gr.update(value=e)) if e else (gr.update(), gr.update()),
                      ui.pick, [tabs, ep_select], **private)
    return refresh, outputs


def _ingester(backend, refresh, outputs: list):
    """The Add handler: per-file progress, and each episode in the table as soon as it is ready."""

    @friendly
    def do_ingest(files, enhance_text):
        if not files:  # a warning, not an error: nothing failed, and no error badge stays under the upload box
            gr.Warning("Choose one or more files first.")
            yield (gr.update(),) * (1 + len(outputs))
            return
        rows: list[dict] = []
        ready_before = 0
        for rows in backend.ingest(list(files), enhance=bool(enhance_text)):
            done = sum(1 for r in rows if r.get("status"))
            ready = sum(1 for r in rows if r.get("status") in ("ingested", "unchanged"))
            html = render.progress_html(rows) + f"<p class='small muted'>{done}/{len(rows)} file(s) done</p>"
            # each episode appears in the library as soon as it is ready, not when the batch ends
            yield (html, *(refresh() if ready != ready_before else [gr.update()] * len(outputs)))
            ready_before = ready
        failed = [r for r in rows if r.get("status") == "failed"]
        ok = [r for r in rows if r.get("status") in ("ingested", "unchanged")]
        if failed:
            gr.Warning("; ".join(failure_line(r) for r in failed))
        if ok:
            gr.Info(f"{len(ok)} file(s) in the library")
        yield (render.progress_html(rows), *refresh())

    return do_ingest
