"""The Chats tab: every stored conversation (rag.chats), newest first — open it again on the Ask tab (citations
still play), rename it, delete it, or download it as Markdown or JSON."""

from __future__ import annotations

from types import SimpleNamespace

import gradio as gr

from rag.chats import export
from ui import ask_tab, render, settings_tab
from ui.errors import friendly


def layout() -> SimpleNamespace:
    with gr.Tab("Chats", id="chats", elem_id="tab-chats"):
        table = gr.Dataframe(headers=render.CHAT_COLUMNS, value=[], interactive=False, label="Conversations",
                             elem_id="chats", wrap=True)
        with gr.Row():
            pick = gr.Dropdown(label="Conversation", choices=[], value=None, elem_id="chat-pick", scale=3)
            open_btn = gr.Button("Open", variant="primary", elem_id="chat-open", scale=1)
            delete_btn = gr.Button("Delete", variant="stop", elem_id="chat-delete", scale=1)
        with gr.Row():
            title = gr.Textbox(label="New title", elem_id="chat-title", scale=3)
            rename_btn = gr.Button("Rename", elem_id="chat-rename", scale=1)
        with gr.Row():
            md = gr.DownloadButton("Markdown", value=None, interactive=False, size="sm", elem_id="chat-export-md")
            js = gr.DownloadButton("JSON", value=None, interactive=False, size="sm", elem_id="chat-export-json")
    return SimpleNamespace(table=table, pick=pick, open_btn=open_btn, delete_btn=delete_btn, title=title,
                           rename_btn=rename_btn, md=md, json=js)


def export_file(backend, conv, fmt: str) -> str:
    """The conversation written for a download button (its citations link to the page's player URL)."""
    from rag.private import private_dir, write_private
    from ui.uploads import safe_name

    def play_url(c) -> str:
        src = backend.src_for(c.episode_id)
        return render.play_href(src, c.start, c.episode_id) if src else ""

    folder = private_dir(backend.settings, "exports", "chats")
    return str(write_private(folder, f"{safe_name(conv.title)[:60]}-{conv.id}.{fmt}", export(conv, fmt, play_url)))


def wire(backend, ui: SimpleNamespace, ask_ui: SimpleNamespace, settings_ui: SimpleNamespace, conv_id, tabs,
         src_for, *, private: dict) -> tuple:
    """Returns (refresh function, its outputs) for other tabs to call after a conversation changes."""

    def refresh(selected=None):
        convs = backend.chats.list()
        ids = [c.id for c in convs]
        choices = [(f"{c.title} · {c.updated:%Y-%m-%d %H:%M}", c.id) for c in convs]
        keep = selected if selected in ids else None
        return render.chat_rows(convs), gr.update(choices=choices, value=keep)

    refresh_out = [ui.table, ui.pick]

    def pick_row(evt: gr.SelectData):
        row = evt.row_value or []
        return gr.update(value=row[-1]) if row else gr.update()

    ui.table.select(pick_row, None, ui.pick, **private)

    @friendly
    def selected(cid):
        if not cid:
            return gr.update(value=None, interactive=False), gr.update(value=None, interactive=False), ""
        conv = backend.chats.get(cid)
        return (gr.update(value=export_file(backend, conv, "md"), interactive=True),
                gr.update(value=export_file(backend, conv, "json"), interactive=True), conv.title)

    ui.pick.change(selected, ui.pick, [ui.md, ui.json, ui.title], **private)

    @friendly
    def open_chat(cid, request: gr.Request = None):
        conv = backend.chats.get(cid)
        backend.viewing[getattr(request, "session_hash", None) or ""] = conv.id
        return (conv.id, ask_tab.chat_view(backend, conv.id, src_for), gr.update(value=conv.episode or ""),
                render.ask_status_html(), gr.Tabs(selected="ask"), *settings_tab.values(conv.settings))

    ui.open_btn.click(open_chat, ui.pick, [conv_id, ask_ui.chat, ask_ui.scope, ask_ui.status, tabs,
                                           *settings_ui.inputs], **private)

    @friendly
    def rename(cid, title):
        conv = backend.chats.rename(cid, title)
        gr.Info(f"Renamed to “{conv.title}”")
        return refresh(conv.id)

    ui.rename_btn.click(rename, [ui.pick, ui.title], refresh_out, **private)

    @friendly
    def delete(cid, shown):
        conv = backend.chats.delete(cid)
        gr.Info(f"Deleted “{conv.title}”")
        return (*refresh(), "" if shown == conv.id else gr.update(), [] if shown == conv.id else gr.update())

    ui.delete_btn.click(delete, [ui.pick, conv_id], [*refresh_out, conv_id, ask_ui.chat], **private)
    return refresh, refresh_out
