"""The Episode tab: header, the transcript (paragraphs; the playing line highlighted and followed by
ui/player.js), summary and chapters, exports."""

from __future__ import annotations

from types import SimpleNamespace

import gradio as gr

from ui import render
from ui.errors import friendly

EXPORTS = ("srt", "vtt", "json", "md")

# After an episode is shown: put its audio in the player (unless something is playing).
LOAD_PLAYER_JS = """() => {
  const h = document.querySelector('#ep-header .ep-head');
  if (h && window.audiorag) window.audiorag.load(h.dataset.src, h.dataset.episode, h.querySelector('h2')?.textContent);
}"""


def layout() -> SimpleNamespace:
    with gr.Tab("Episode", id="episode", elem_id="tab-episode") as tab:
        select = gr.Dropdown(label="Episode", choices=[], value=None, elem_id="ep-select")
        header = gr.HTML("<p class='muted'>Choose an episode.</p>", elem_id="ep-header")
        with gr.Row(elem_id="ep-rename-row"):
            title = gr.Textbox(label="Title", elem_id="ep-title", scale=4, max_lines=1)
            rename_btn = gr.Button("Rename", elem_id="ep-rename", scale=1, min_width=90)
        with gr.Row(elem_id="ep-body"):
            with gr.Column(scale=3):
                gr.Markdown("#### Transcript — click a line to play from there")
                edit = gr.Checkbox(False, label="Edit text (click a line, type, Enter saves; ↺ restores the original)",
                                   elem_id="ep-edit")
                seg_edit = gr.Textbox(visible="hidden", elem_id="seg-edit", show_label=False)
                transcript = gr.HTML("", elem_id="ep-transcript")
            with gr.Column(scale=2):
                meta = gr.HTML("", elem_id="ep-meta")
                from ui import speakers

                speaker_controls = speakers.build_panel()
                summarize_btn = gr.Button("Generate summary", elem_id="summarize-btn")
                gr.Markdown("#### Export")
                with gr.Row():
                    dl = {fmt: gr.DownloadButton(fmt.upper() if fmt != "md" else "Markdown", value=None,
                                                 interactive=False, size="sm", elem_id=f"export-{fmt}")
                          for fmt in EXPORTS}
    return SimpleNamespace(tab=tab, select=select, header=header, transcript=transcript, meta=meta,
                           summarize_btn=summarize_btn, dl=dl, title=title, rename_btn=rename_btn, edit=edit,
                           seg_edit=seg_edit, speakers=speaker_controls)


def wire(backend, ui: SimpleNamespace, *, open_box, tabs, refresh_library: tuple, heavy: dict, private: dict):
    from ui import api

    empty = ("<p class='muted'>Choose an episode.</p>", "", "", *[gr.update(value=None, interactive=False) for _ in EXPORTS],
             "")

    @friendly
    def show(ep_id):
        if not ep_id:
            return empty
        ep = backend.find(ep_id)
        segs = backend.segments(ep.id)
        src = render.audio_url(backend.audio_file(ep))
        files = {fmt: api.write_export(backend, ep.id, fmt) for fmt in EXPORTS}
        transcript = render.transcript_html(ep, segs, src, backend.edited_segments(ep.id))
        from rag.features import listing

        meta = render.meta_html(ep, src) + render.features_html(listing(backend.settings, ep))
        return (render.episode_header_html(ep, src), transcript, meta,
                *[gr.update(value=files[f], interactive=files[f] is not None) for f in EXPORTS], ep.title)

    outputs = [ui.header, ui.transcript, ui.meta, *ui.dl.values(), ui.title]

    @friendly
    def save_edit(value, ep_id):
        import json

        try:
            e = json.loads(value or "{}")
        except ValueError:
            return (gr.update(),) * len(outputs)
        if not e or not ep_id:
            return (gr.update(),) * len(outputs)
        res = backend.edit_segment(e.get("ep") or ep_id, int(e["seg"]), e.get("text", ""), bool(e.get("revert")))
        gr.Info("Original text restored" if e.get("revert") else f"Saved: “{res['text']}”")
        return show(ep_id)

    ui.seg_edit.change(save_edit, [ui.seg_edit, ui.select], outputs, **heavy, **private)  # a nonce in every value

    refresh_fn, refresh_out = refresh_library

    @friendly
    def rename(ep_id, title):
        res = backend.rename(ep_id, title)
        gr.Info(f"Renamed to “{res['title']}”")
        return (*show(res["episode_id"]), *refresh_fn())

    ui.rename_btn.click(rename, [ui.select, ui.title], [*outputs, *refresh_out], **private)
    from ui import speakers

    speakers.wire_panel(backend, ui.select, ui.speakers, show, outputs)
    ui.select.change(show, ui.select, outputs, **private).then(None, None, None, js=LOAD_PLAYER_JS, **private)

    def newest_if_none(ep_id):
        """Opening the tab with no episode chosen shows the newest ready one, not an empty page."""
        if ep_id:
            return gr.update()
        ready = [e for e in backend.episodes(include_incomplete=False) if e.status == "ready"]
        return gr.update(value=max(ready, key=lambda e: e.created).id) if ready else gr.update()

    ui.tab.select(newest_if_none, ui.select, ui.select, **private)

    def open_episode(value):
        ep_id = (value or "").split("|")[0]
        if not ep_id:
            return gr.update(), gr.update()
        return gr.Tabs(selected="episode"), gr.update(value=ep_id)

    open_box.change(open_episode, open_box, [tabs, ui.select], **private)  # the value carries a nonce

    @friendly
    def summarize(ep_id):
        ep = backend.find(ep_id)
        backend.summarize(ep.id)
        gr.Info("Summary generated")
        return show(ep.id)

    ui.summarize_btn.click(summarize, ui.select, outputs, **heavy, **private) \
        .then(friendly(refresh_fn), None, refresh_out, **private)
    return show, outputs
