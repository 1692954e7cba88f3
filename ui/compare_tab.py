"""The Compare tab: one question to two answering models, side by side, each streamed with its time to first
token, tokens/s and citations. They answer one after the other, so each has the machine to itself and their
figures are comparable; the answer settings of the Settings tab apply to both (except the model)."""

from __future__ import annotations

import html
from types import SimpleNamespace

import gradio as gr

from ui import render, settings_tab
from ui.errors import friendly


def layout() -> SimpleNamespace:
    with gr.Tab("Compare", id="compare", elem_id="tab-compare"):
        with gr.Row(elem_id="cmp-row"):
            question = gr.Textbox(placeholder="A question for both models…", show_label=False, elem_id="cmp-question",
                                  scale=4)
            scope = gr.Dropdown(label="Ask about", choices=[("Whole library", "")], value="", elem_id="cmp-scope",
                                scale=2)
        with gr.Row():
            model_a = gr.Dropdown(label="Model A", choices=[], value=None, allow_custom_value=True, elem_id="cmp-a")
            model_b = gr.Dropdown(label="Model B", choices=[], value=None, allow_custom_value=True, elem_id="cmp-b")
            btn = gr.Button("Compare", variant="primary", elem_id="cmp-btn")
        with gr.Row(elem_id="cmp-results"):
            out_a = gr.HTML(side_html("A", "", "idle"), elem_id="cmp-out-a")
            out_b = gr.HTML(side_html("B", "", "idle"), elem_id="cmp-out-b")
    return SimpleNamespace(question=question, scope=scope, model_a=model_a, model_b=model_b, btn=btn, out_a=out_a,
                           out_b=out_b)


def side_html(side: str, model: str, state: str, body: str = "", figs: str = "", sources: str = "") -> str:
    return (f'<div class="cmp-side" data-side="{side}" data-state="{html.escape(state)}">'
            f'<h4>{side}: {html.escape(model or "—")}</h4>{render.ask_status_html(state, figs)}'
            f'<div class="cmp-answer">{body}</div>{sources}</div>')


def _sources(links: list[str]) -> str:
    return f'<p class="cmp-sources"><b>Sources:</b> {" ".join(links)}</p>' if links else ""


def stream_side(backend, side: str, model: str, question: str, scope: str, opts, src_for):
    """Yield the side's HTML as its answer is written."""
    opts = opts.model_copy(update={"model": model})
    confirmed = draft = figs = ""
    state = "retrieving"
    for ev in backend.ask(question, scope or None, None, opts):
        kind = ev["type"]
        if kind == "state":
            state = ev["state"]
        elif kind == "draft":
            draft += ev["text"]
            continue
        elif kind == "token":
            confirmed, draft = confirmed + ev["text"], ""
        elif kind == "stats":
            figs = render.figures(None, ev["ttft"], ev["tps"])
        elif kind == "final":
            a = ev["answer"]
            figs = figs or "quoted from the transcript: no model text to time"
            body, rest = render.answer_parts(a.answer, a.citations, src_for)
            body = body.replace("  \n", "<br>")
            yield side_html(side, model, "done", body, figs, _sources(rest))
            return
        live = html.escape(confirmed).replace("\n", "<br>")
        if draft.strip():
            live += f' <span class="draft">{html.escape(draft)}</span>'
        yield side_html(side, model, state, live, figs)


def wire(backend, ui: SimpleNamespace, sett: SimpleNamespace, src_for, *, heavy: dict, private: dict) -> None:
    @friendly
    def compare(q, scope, a, b, *svals):
        q = (q or "").strip()
        if not q:
            gr.Warning("Type a question first.")
            return
        if not a or not b:
            gr.Warning("Choose two models first.")
            return
        opts = settings_tab.to_opts(*svals)
        wait_b = side_html("B", b, "queued")
        for out in stream_side(backend, "A", a, q, scope, opts, src_for):
            yield out, wait_b
        last_a = out
        for out in stream_side(backend, "B", b, q, scope, opts, src_for):
            yield last_a, out

    inputs = [ui.question, ui.scope, ui.model_a, ui.model_b, *sett.inputs]
    ui.btn.click(compare, inputs, [ui.out_a, ui.out_b], show_progress="hidden", **heavy, **private)
    ui.question.submit(compare, inputs, [ui.out_a, ui.out_b], show_progress="hidden", **heavy, **private)


def initial(backend) -> tuple:
    """The two model dropdowns: the ready LLM packs, the answering model first."""
    names = [n for _, n in settings_tab.model_choices(backend) if n]
    answering = next((r["model"] for r in backend.models() if r["role"] == "llm (answers)"), None)
    if answering and answering not in names:
        names.insert(0, answering)
    a = answering or (names[0] if names else None)
    b = next((n for n in names if n != a), a)
    return gr.update(choices=names, value=a), gr.update(choices=names, value=b)
