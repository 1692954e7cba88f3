"""The Ask tab: questions answered as they are written, queued while an answer runs, stoppable, and kept.

- A question goes into its conversation's waiting list at once (a quick handler, never lost, shown as "queued");
  one answering loop per conversation (the models' queue slot) takes them in order and streams each answer:
  state (retrieving → answering → done), the model's words as they come (rag.stream), its figures.
- The conversation lives in the library (rag.chats): the page shows what is stored plus what is live, so a
  reload, a second tab or a server restart shows the same chat.
- Stop sets the running answer's Stop flag and gives the waiting questions back to the input box.
"""

from __future__ import annotations

from types import SimpleNamespace

import gradio as gr

from ui import render, settings_tab
from ui.errors import friendly, message


def layout() -> SimpleNamespace:
    with gr.Tab("Ask", id="ask", elem_id="tab-ask"):
        with gr.Row():
            with gr.Column(scale=3):
                scope = gr.Dropdown(label="Ask about", choices=[("Whole library", "")], value="", elem_id="ask-scope")
                chat = gr.Chatbot(label="Answers cite the moment: click a source to hear it", elem_id="chat",
                                  height=460, feedback_options=None, buttons=["copy"])
                status = gr.HTML(render.ask_status_html(), elem_id="ask-status")
                with gr.Row(elem_id="ask-row"):
                    question = gr.Textbox(placeholder="Ask about your recordings…", show_label=False,
                                          elem_id="question", scale=5, lines=1)
                    ask_btn = gr.Button("Ask", variant="primary", elem_id="ask-btn", scale=1, min_width=70)
                    stop_btn = gr.Button("Stop", variant="stop", elem_id="stop-btn", scale=1, min_width=70)
                    new_btn = gr.Button("New chat", elem_id="clear-btn", scale=1, min_width=90)
            with gr.Column(scale=2):
                passages = gr.HTML(render.passages_html([], lambda _: ""), elem_id="passages")
    return SimpleNamespace(scope=scope, chat=chat, status=status, question=question, ask_btn=ask_btn,
                           stop_btn=stop_btn, new_btn=new_btn, passages=passages)


def chat_view(backend, conv_id: str, src_for) -> list[dict]:
    """What the chat shows for a conversation: its stored turns, the answer being written, the waiting questions."""
    msgs: list[dict] = []
    if conv_id:
        for turn in backend.chats.get(conv_id).turns:
            msgs += render.turn_messages(turn, src_for)
        msgs += backend.live.get(conv_id, [])
        msgs += render.queued_messages(backend.waiting(conv_id))
    return msgs


def _session(request: gr.Request | None) -> str:
    return getattr(request, "session_hash", None) or ""


def _submitter(backend, src_for):
    """The quick handler: the question joins its conversation's waiting list (a new conversation for the first)."""

    @friendly
    def submit(q, cid, scope, request: gr.Request, *svals):  # a request after *svals would not be passed
        q = (q or "").strip()
        if not q:
            gr.Warning("Type a question first.")
            return gr.update(), gr.update(), gr.update(), gr.update()
        opts = settings_tab.to_opts(*svals)
        if cid:
            conv = backend.chats.get(cid)
            backend.chats.save(conv.model_copy(update={"settings": opts, "episode": scope or None}))
        else:
            conv = backend.chats.new(q, scope or None, opts)
        backend.enqueue(conv.id, q)
        backend.viewing[_session(request)] = conv.id
        busy = conv.id in backend.live
        status = render.ask_status_html("queued" if busy else "retrieving",
                                        waiting=len(backend.waiting(conv.id)) if busy else 0)
        return conv.id, chat_view(backend, conv.id, src_for), "", status

    return submit


def _answerer(backend, src_for):
    """The answering loop (the models' queue slot): every waiting question of a conversation, streamed."""

    def answer_one(cid: str, q: str, cancel, request):
        """Stream one waiting question's answer into the chat (rag.chats.answer_turn stores it)."""
        from rag.chats import answer_turn

        confirmed = draft = ""
        state, stats = "retrieving", {}
        for ev in answer_turn(backend.chats, cid, q, cancel=cancel, settings=backend.settings, store=backend.store,
                              embedder=backend.embedder):
            kind = ev["type"]
            shown_passages = gr.update()
            if kind == "stored":
                backend.live.pop(cid, None)
                backend.answered(cid)  # from here on a Stop has nothing to cut
                yield _view(cid, state, stats, request), gr.update()
                return
            if kind == "state":
                state = ev["state"]
            elif kind == "draft":
                draft += ev["text"]
                continue  # a stats event follows every draft: render once, with fresh figures
            elif kind == "token":
                confirmed, draft = confirmed + ev["text"], ""
            elif kind == "stats":
                stats = ev
            elif kind == "warning":
                gr.Warning(ev["text"])
            elif kind == "passages":
                shown_passages = render.passages_html(ev["passages"], src_for)
            elif kind == "final":
                heading = "Closest passages (not an answer)" if ev["answer"].abstained else "Retrieved passages"
                shown_passages = render.passages_html(ev.get("passages", []), src_for, heading)
            backend.live[cid] = render.live_messages(q, confirmed, draft, state)
            yield _view(cid, state, stats, request), shown_passages

    def _view(cid, state, stats, request):
        if backend.viewing.get(_session(request)) != cid:  # the page moved on to another conversation
            return gr.update(), gr.update()
        # the figures ride on the status line while the answer is written; once it is done, its bubble holds them
        figs = render.figures(stats.get("model"), stats.get("ttft"), stats.get("tps")) \
            if stats and state != "done" else ""
        return (chat_view(backend, cid, src_for),
                render.ask_status_html(state, figs, len(backend.waiting(cid))))

    def drain(cid, request: gr.Request = None):
        """Answer every question waiting in this conversation, oldest first. (It yields at once: a generator that
        ends without yielding would blank its outputs — the case when an earlier loop already answered them.)"""
        yield gr.update(), gr.update(), gr.update()
        while cid:
            nxt = backend.next_question(cid)
            if nxt is None:
                return
            q, cancel = nxt
            try:
                for (chat, status), shown in answer_one(cid, q, cancel, request):
                    yield chat, status, shown
            except Exception as exc:  # noqa: BLE001 — one line for the user; the next question still runs
                backend.live.pop(cid, None)
                gr.Warning(message(exc))
                yield chat_view(backend, cid, src_for), render.ask_status_html("idle"), gr.update()
            finally:
                backend.answered(cid)

    return drain


def wire(backend, ui: SimpleNamespace, settings_ui: SimpleNamespace, conv_id: gr.State, src_for, *, heavy: dict,
         private: dict, after_answer: tuple) -> None:
    """`after_answer` = (fn, outputs) run when an answer is stored (refreshes the Chats list)."""
    submit, drain = _submitter(backend, src_for), _answerer(backend, src_for)
    inputs = [ui.question, conv_id, ui.scope, *settings_ui.inputs]
    submit_out = [conv_id, ui.chat, ui.question, ui.status]
    drain_out = [ui.chat, ui.status, ui.passages]
    refresh_fn, refresh_out = after_answer
    for trigger in (ui.ask_btn.click, ui.question.submit):
        trigger(submit, inputs, submit_out, trigger_mode="multiple", **private) \
            .then(drain, conv_id, drain_out, trigger_mode="multiple", show_progress="hidden", **heavy, **private) \
            .then(refresh_fn, None, refresh_out, **private)

    def stop(cid):
        """Stop the answer being written (its stream ends "stopped" and sets the status line) and put the questions
        still waiting back in the box; with no answer running, the status line says so here."""
        if not cid:
            return gr.update(), gr.update(), gr.update()
        running, taken_back = backend.stop(cid)
        if not running and not taken_back:
            return gr.update(), gr.update(), gr.update()
        n = len(taken_back)
        back = "" if not n else "; the waiting question is back in the box" if n == 1 else \
            f"; {n} waiting questions are back in the box"
        gr.Info("Stopped" + back)
        box = "\n".join(taken_back) if taken_back else gr.update()
        if running:
            return box, gr.update(), gr.update()
        return box, chat_view(backend, cid, src_for), render.ask_status_html("stopped")

    ui.stop_btn.click(stop, conv_id, [ui.question, ui.chat, ui.status], **private)

    def new_chat(request: gr.Request = None):
        backend.viewing[_session(request)] = ""
        return "", [], render.passages_html([], lambda _: ""), render.ask_status_html()

    ui.new_btn.click(new_chat, None, [conv_id, ui.chat, ui.passages, ui.status], **private)
    ui.chat.clear(new_chat, None, [conv_id, ui.chat, ui.passages, ui.status], **private)  # the bin starts afresh too
