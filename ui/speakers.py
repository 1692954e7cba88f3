"""Speakers in the web app, kept apart from the rest of ui/ so the app's other screens can call it: a colour per
speaker, the name tag the transcript shows where the voice changes, and the Episode tab's Speakers panel (names,
speaking time, proposed names for voices known from other episodes, renaming)."""

from __future__ import annotations

import hashlib
import html

from rag.schema import format_ts

# Distinct on white and readable as text colour (Okabe–Ito, darkened where needed).
PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#8F6D00", "#56B4E9", "#E69F00", "#7A4B94", "#4D4D4D"]


def speaker_colour(name: str, order: list[str] | None = None) -> str:
    """The colour of a speaker: by position in `order` (an episode's speakers) when given, else by its name."""
    if order and name in order:
        return PALETTE[order.index(name) % len(PALETTE)]
    return PALETTE[int(hashlib.sha1(name.encode()).hexdigest(), 16) % len(PALETTE)]


def speaker_tag(name: str, order: list[str] | None = None) -> str:
    colour = speaker_colour(name, order)
    return (f'<span class="speaker spk" data-speaker="{html.escape(name)}" style="color:{colour};font-weight:600">'
            f'{html.escape(name)}</span>')


def speakers_html(rows: list[dict]) -> str:
    """The Speakers panel: one line per voice (tag, label, speaking time, a proposed name)."""
    if not rows:
        return '<div class="speakers"><p class="muted small">No speakers in this episode.</p></div>'
    order = [r["name"] for r in rows]
    items = []
    for r in rows:
        label = f' <span class="muted small">{html.escape(r["id"])}</span>' if r.get("id") and r["id"] != r["name"] else ""
        talk = f' <span class="muted small">{format_ts(r["seconds"])}</span>' if r.get("seconds") else ""
        hint = ""
        if r.get("proposed"):
            p = r["proposed"]
            hint = (f' <span class="proposal">sounds like <b>{html.escape(p["name"])}</b> '
                    f'({p["similarity"]:.2f}) — write {html.escape(r["id"])}={html.escape(p["name"])} to accept</span>')
        items.append(f'<li>{speaker_tag(r["name"], order)}{label}{talk}{hint}</li>')
    return f'<div class="speakers"><ul>{"".join(items)}</ul></div>'


def build_panel():
    """The Episode tab's Speakers panel (call inside the layout); returns (panel, names box, rename button)."""
    import gradio as gr

    with gr.Accordion("Speakers", open=True, elem_id="ep-speakers-box"):
        panel = gr.HTML(speakers_html([]), elem_id="ep-speakers")
        with gr.Row():
            names = gr.Textbox(placeholder="S1=Diane, S2=Sheila", show_label=False, elem_id="speaker-rename", scale=4)
            btn = gr.Button("Rename", size="sm", elem_id="speaker-rename-btn", scale=1)
    return panel, names, btn


def wire_panel(backend, ep_select, controls, refresh, outputs: list) -> None:
    """Fill the panel when an episode is chosen; rename on the button (or Enter), then `refresh(ep_id)` gives the
    new values of `outputs` (the episode view: transcript with the new names, exports)."""
    import gradio as gr

    from rag.voices import RenameError, parse_renames, rename, speaker_rows

    panel, names, btn = controls

    def show(ep_id):
        return speakers_html(speaker_rows(backend.store, ep_id)) if ep_id else speakers_html([])

    def do_rename(ep_id, text):
        if not ep_id:
            raise gr.Error("Choose an episode first.")
        try:
            rename(backend.store, backend.find(ep_id).id, parse_renames([text or ""]))
        except RenameError as exc:
            raise gr.Error(str(exc)) from exc
        return (show(ep_id), "", *refresh(ep_id))

    ep_select.change(show, ep_select, panel)
    for trigger in (btn.click, names.submit):
        trigger(do_rename, [ep_select, names], [panel, names, *outputs])
