"""The Teach tab (issue 16): the vocabulary (the library's list and each episode's), the transcript corrections with
their JSONL download, and a fine-tune run of the text model with a progress bar, the held-out perplexity before and
after, and the adapters trained so far. The work is done by ui/teach.py."""

from __future__ import annotations

import html
from types import SimpleNamespace

import gradio as gr

from rag.errors import is_user_error
from ui import teach
from ui.errors import friendly, message

INTRO = ("Teach the library your names and terms. **Vocabulary**: spellings new episodes are transcribed with; "
         "search also finds the places an older transcript mis-heard them. **Corrections**: every transcript line "
         "you fix in the Episode tab, kept as data. **Fine-tune**: a LoRA adapter for the text model, trained on "
         "this library (docs/finetune.md).")


def layout() -> SimpleNamespace:
    with gr.Tab("Teach", id="teach", elem_id="tab-teach") as tab:
        gr.Markdown(INTRO, elem_classes="small")
        gr.Markdown("### Vocabulary")
        with gr.Row(elem_id="vocab-row"):
            scope = gr.Dropdown(label="For", choices=[("Whole library", "")], value="", elem_id="vocab-scope",
                                scale=2, min_width=180)
            words = gr.Textbox(label="Names or terms (separate several with commas)", placeholder="Rollo, Rio Negro",
                               elem_id="vocab-words", scale=3, max_lines=1, min_width=200)
            with gr.Column(scale=1, min_width=160):
                add = gr.Button("Add", variant="primary", elem_id="vocab-add")
                remove = gr.Button("Remove", elem_id="vocab-remove")
        vocab = gr.Dataframe(headers=teach.VOCAB_COLUMNS, value=[], interactive=False, label="Vocabulary",
                             elem_id="vocab-table", wrap=True)
        gr.Markdown("### Corrections")
        corr_note = gr.Markdown("", elem_id="corr-note")
        corr = gr.Dataframe(headers=teach.CORRECTION_COLUMNS, value=[], interactive=False, label="Corrections kept",
                            elem_id="corr-table", wrap=True, column_widths=["22%", "39%", "39%"])
        with gr.Row():
            corr_dl = gr.DownloadButton("Download JSONL", value=None, interactive=False, size="sm",
                                        elem_id="corr-dl")
            refresh = gr.Button("Refresh", size="sm", elem_id="teach-refresh")
        gr.Markdown("### Fine-tune the text model")
        with gr.Row():
            sources = gr.CheckboxGroup(teach.SOURCES, value=["text"], label="Train on", elem_id="ft-sources",
                                       scale=3, min_width=240)
            with gr.Column(scale=2, min_width=180):
                name = gr.Textbox(label="Adapter name", placeholder="default: <model>-tuned", elem_id="ft-name",
                                  max_lines=1)
                replace = gr.Checkbox(False, label="Replace an adapter of that name", elem_id="ft-replace")
        with gr.Row(elem_id="ft-budget"):
            iters = gr.Number(200, label="Iterations, at most", precision=0, elem_id="ft-iters", min_width=140)
            minutes = gr.Number(10, label="Minutes, at most (0: no limit)", elem_id="ft-minutes", min_width=140)
            start = gr.Button("Start", variant="primary", elem_id="ft-start", min_width=120)
        status = gr.HTML("", elem_id="ft-status")
        adapters = gr.Dataframe(headers=teach.ADAPTER_COLUMNS, value=[], interactive=False,
                                label="Adapters (audiorag models list)", elem_id="adapters", wrap=True,
                                column_widths=["30%", "30%", "40%"])
    return SimpleNamespace(tab=tab, scope=scope, words=words, add=add, remove=remove, vocab=vocab,
                           corr_note=corr_note, corr=corr, corr_dl=corr_dl, refresh=refresh, sources=sources,
                           name=name, iters=iters, minutes=minutes, replace=replace, start=start, status=status,
                           adapters=adapters)


def corrections_view(backend):
    """(note, table, download button) for the corrections kept now."""
    found = teach.corrections(backend)
    path = teach.write_corrections(backend, found)
    n = len(found)
    note = (f"{n} correction{'' if n == 1 else 's'}: what the transcript heard and what you made it say "
            "(`audiorag corrections export` writes the same JSONL)." if n else
            "No corrections yet: edit a transcript line in the Episode tab (tick “Edit text”) to make one.")
    return note, gr.update(value=teach.correction_rows(found)), gr.update(value=path, interactive=path is not None)


def initial(backend, scope: str = ""):
    """Everything the tab shows: vocabulary, corrections (note, table, download), adapters."""
    return (teach.vocab_rows(backend, scope or None), *corrections_view(backend),
            teach.adapter_rows(teach.adapters(backend)))


def outputs_of(ui: SimpleNamespace) -> list:
    return [ui.vocab, ui.corr_note, ui.corr, ui.corr_dl, ui.adapters]


def progress_html(info: dict | None, notes: list[str], state: str = "training", result: str = "",
                  planned: int = 0) -> str:
    """The run's status: a real <progress> bar (steps done of the steps planned), the step line, the stages; when
    done, the result instead of the bar and step line."""
    done, of = (info["iteration"], info["of"]) if info else (0, planned)
    head = result
    if state == "training":
        head = f'<progress id="ft-bar" value="{done}" max="{max(of, 1)}"></progress>'
        if info:
            loss = f"loss {info['loss']:.3f}" if info.get("loss") is not None else "loss …"
            head += (f"<p class='ft-line'>iteration {done}/{of} · {loss} · {info['elapsed_s']:.0f} s, "
                     f"about {info['left_s']:.0f} s left</p>")
        else:
            head += "<p class='ft-line'>getting ready: loading the model, measuring the held-out text…</p>"
    stages = "".join(f"<li>{html.escape(n)}</li>" for n in notes[-6:])
    return f"<div class='ft-run' data-state='{state}'>{head}<ul class='ft-notes small muted'>{stages}</ul></div>"


def result_html(manifest: dict) -> str:
    f = manifest.get("figures") or {}
    name = html.escape(manifest["name"])
    ppl = ""
    if f.get("perplexity_before") is not None:
        ppl = (f"<p>Held-out perplexity <b class='ft-before'>{f['perplexity_before']}</b> → "
               f"<b class='ft-after'>{f['perplexity_after']}</b> (lower is better; {f.get('held_out_tokens', 0)} "
               "tokens of this library's text it was not trained on)</p>")
    run = (manifest.get("runs") or [{}])[-1]
    return (f"<p class='ft-done'>Adapter <b class='ft-name'>{name}</b> saved: LoRA on "
            f"{html.escape(str(manifest.get('base')))}, {run.get('iterations', 0)} iterations in "
            f"{run.get('seconds', 0):.0f} s.</p>{ppl}"
            f"<p class='small'>Use it: <code>audiorag ask --adapter {name} \"…\"</code> (or "
            f"<code>llm.adapter = \"{name}\"</code> in audiorag.toml).</p>")


def warned(n_outputs: int):
    """A user's mistake as a one-line gr.Warning, the outputs left as they were: an error would leave Gradio's error
    overlay on the table and the box, in the way of the next try. Anything else goes on to `friendly`."""

    def wrap(fn):
        def handler(*args):
            try:
                return fn(*args)
            except Exception as exc:  # noqa: BLE001 — only user errors are handled here
                if not is_user_error(exc):
                    raise
                gr.Warning(message(exc))
                return (gr.update(),) * n_outputs

        return friendly(handler)

    return wrap


def wire(backend, ui: SimpleNamespace, *, heavy: dict, private: dict) -> None:
    outputs = outputs_of(ui)

    @friendly
    def show_vocab(scope):
        return teach.vocab_rows(backend, scope or None)

    @warned(2)
    def add(words, scope):
        kept = teach.add_words(backend, words, scope or None)
        where = backend.find(scope).title if scope else "the whole library"
        gr.Info(f"Added for {where}: {', '.join(kept)}")
        return teach.vocab_rows(backend, scope or None), ""

    @warned(2)
    def remove(words, scope):
        n = teach.remove_words(backend, words, scope or None)
        gr.Info(f"Removed {n} entr{'y' if n == 1 else 'ies'}")
        return teach.vocab_rows(backend, scope or None), ""

    def pick(evt: gr.SelectData):
        row = evt.row_value or []
        return gr.update(value=row[0]) if row else gr.update()

    ui.scope.change(show_vocab, ui.scope, ui.vocab, **private)
    ui.add.click(add, [ui.words, ui.scope], [ui.vocab, ui.words], **private)
    ui.words.submit(add, [ui.words, ui.scope], [ui.vocab, ui.words], **private)
    ui.remove.click(remove, [ui.words, ui.scope], [ui.vocab, ui.words], **private)
    ui.vocab.select(pick, None, ui.words, **private)
    show_all = friendly(lambda scope: initial(backend, scope))
    ui.refresh.click(show_all, ui.scope, outputs, **private)
    ui.tab.select(show_all, ui.scope, outputs, **private)  # corrections made in the Episode tab meanwhile
    ui.start.click(_trainer(backend), [ui.name, ui.sources, ui.iters, ui.minutes, ui.replace],
                   [ui.status, ui.adapters], **heavy, **private)


def _trainer(backend):
    """The Start handler: the run streamed (bar, step line, stages), then its figures and the adapters table. A bad
    choice, or data the run cannot use, is one warning line (and, once the run has started, its status says so)."""

    @friendly
    def train(name, sources, iters, minutes, replace):
        notes: list[str] = ["starting"]
        started = False
        try:
            req = teach.finetune_request(backend, name, list(sources or []), iters, minutes, bool(replace))
            yield progress_html(None, notes, planned=req.iters), gr.update()
            started, info = True, None
            for ev in teach.run_finetune(backend, req):
                if ev["type"] == "note":
                    notes.append(ev["text"])
                elif ev["type"] == "progress":
                    info = ev
                else:
                    manifest = ev["manifest"]
                    gr.Info(f"Adapter '{manifest['name']}' saved")
                    yield (progress_html(info, notes, "done", result_html(manifest)),
                           teach.adapter_rows(teach.adapters(backend)))
                    return
                yield progress_html(info, notes, planned=req.iters), gr.update()
        except Exception as exc:  # noqa: BLE001 — only user errors are handled here; friendly logs the rest
            if not is_user_error(exc):
                raise
            gr.Warning(message(exc))
            failed = f"<p class='ft-failed'>Not trained: {html.escape(message(exc))}</p>"
            yield (progress_html(None, notes, "failed", failed) if started else gr.update()), gr.update()

    return train
