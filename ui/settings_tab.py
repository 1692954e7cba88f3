"""The Settings tab: how answers are made (rag.schema.AnswerSettings), for the conversation on the Ask tab.

The values are read with every question and stored with its conversation, so a reopened conversation answers the
way it did; opening one puts its settings back here. `audiorag ask|chat` take the same settings as flags.
"""

from __future__ import annotations

from types import SimpleNamespace

import gradio as gr

from rag.schema import AnswerSettings
from ui.errors import friendly

MODES = [("Automatic (the mode measured right for the model)", ""),
         ("Hybrid: a short checked model answer, then transcript quotes", "hybrid"),
         ("Generative: the checked model answer only", "generative"),
         ("Extractive: transcript quotes, no model", "extractive"),
         ("Model: the model decides whether the passages answer (needs a 1.5B+ instruct model)", "model")]
FIELDS = ("mode", "k", "temperature", "top_p", "top_k", "max_tokens", "system_prompt", "model")


def layout(backend) -> SimpleNamespace:
    d = AnswerSettings()
    with gr.Tab("Settings", id="settings", elem_id="tab-settings") as tab:
        gr.Markdown("#### Answer settings\nUsed for the next question and kept with its conversation (reopening "
                    "a conversation brings its settings back). Model choice and the rest are also flags of "
                    "`audiorag ask` and `audiorag chat`.")
        with gr.Row():
            mode = gr.Dropdown(MODES, value="", label="Answer mode", elem_id="set-mode", scale=2)
            model = gr.Dropdown([("Configured default", "")], value="", label="Answering model",
                                allow_custom_value=True, elem_id="set-model", scale=2)
        with gr.Row():
            k = gr.Slider(1, 30, value=d.k, step=1, label="Sources retrieved", elem_id="set-k")
            max_tokens = gr.Slider(8, 512, value=d.max_tokens, step=8, label="Max tokens (model's part)",
                                   elem_id="set-max-tokens")
        with gr.Row():
            temperature = gr.Slider(0.0, 2.0, value=d.temperature, step=0.05, label="Temperature",
                                    elem_id="set-temperature")
            top_p = gr.Slider(0.0, 1.0, value=d.top_p, step=0.05, label="Top-p (0: off)", elem_id="set-top-p")
            top_k = gr.Slider(0, 200, value=d.top_k, step=1, label="Top-k (0: off)", elem_id="set-top-k")
        system_prompt = gr.Textbox(label="System prompt (empty: the measured answer prompt)", lines=3,
                                   elem_id="set-system-prompt", placeholder="e.g. Answer in one short sentence.")
        reset = gr.Button("Reset to defaults", size="sm", elem_id="set-reset")
        vocabulary_panel(backend)
        gr.Markdown("#### Privacy\nWhere each job runs, from the configuration (`audiorag doctor` says the same), "
                    "and the audit log: every call to a server and every deletion — when, which host, how many "
                    "bytes, never the content (`audiorag audit`).")
        where = gr.Dataframe(headers=PRIVACY_COLUMNS, value=privacy_rows(backend.settings), interactive=False,
                             label="Who does what", elem_id="privacy-roles", wrap=True)
        audit = gr.Dataframe(headers=AUDIT_COLUMNS, value=[], interactive=False, label="Audit log (newest first)",
                             elem_id="audit-log", wrap=True)
    ns = SimpleNamespace(mode=mode, k=k, temperature=temperature, top_p=top_p, top_k=top_k, max_tokens=max_tokens,
                         system_prompt=system_prompt, model=model, reset=reset)
    ns.inputs = [getattr(ns, f) for f in FIELDS]
    reset.click(lambda: values(AnswerSettings()), None, ns.inputs, api_visibility="private")
    tab.select(friendly(lambda: (privacy_rows(backend.settings), audit_rows(backend.settings))), None,
               [where, audit], api_visibility="private")  # fresh each time the tab is opened
    ns.privacy, ns.audit = where, audit
    return ns


PRIVACY_COLUMNS = ["role", "where", "leaves this machine", "how"]
AUDIT_COLUMNS = ["time", "what", "role", "host", "bytes sent", "bytes received", "status", "details"]
AUDIT_FIELDS = ("time", "what", "role", "host", "sent", "received", "status")


def privacy_rows(settings) -> list[list]:
    from rag.privacy import statement

    return [[r.role, r.where, "yes" if r.remote else "no", r.detail] for r in statement(settings)]


def audit_rows(settings, limit: int = 200) -> list[list]:
    """The newest audit events as table rows (rag.audit); fields other than the usual ones go to "details"."""
    from rag.audit import read

    rows = []
    for e in read(settings, limit=limit):
        details = ", ".join(f"{k} {v}" for k, v in e.items() if k not in AUDIT_FIELDS)
        rows.append([str(e.get("time", ""))[:19].replace("T", " "), *[e.get(k, "") for k in AUDIT_FIELDS[1:]],
                     details])
    return rows


def to_opts(*vals) -> AnswerSettings:
    """The components' values (in FIELDS order) as AnswerSettings; out-of-range numbers are clamped by the
    sliders, so validation errors here are real mistakes and reach the user as one line."""
    data = dict(zip(FIELDS, vals))
    data["mode"] = data.get("mode") or None
    data["model"] = (data.get("model") or "").strip() or None
    data["system_prompt"] = data.get("system_prompt") or ""
    return AnswerSettings.model_validate({k: v for k, v in data.items() if v is not None or k in ("mode", "model")})


def values(opts: AnswerSettings) -> list:
    return [opts.mode or "", opts.k, opts.temperature, opts.top_p, opts.top_k, opts.max_tokens, opts.system_prompt,
            opts.model or ""]


def model_choices(backend) -> list[tuple[str, str]]:
    try:
        names = backend.llm_choices()
    except Exception:  # noqa: BLE001 — the default stays choosable
        names = []
    return [("Configured default", "")] + [(n, n) for n in names]


def vocabulary_text(backend) -> str:
    """The vocabulary as the Settings tab lists it: one entry a line, with its scope."""
    from rag.vocab import entries

    titles = {e.id: e.title for e in backend.episodes()}
    lines = [f"{e.word}  ·  {'episode ' + titles.get(e.episode_id, e.episode_id[:12]) if e.episode_id else 'library'}"
             for e in entries(backend.store)]
    return "\n".join(lines) or "(empty: add a name Whisper mis-hears)"


def vocabulary_panel(backend) -> SimpleNamespace:
    """Names and terms to spell as given (rag/vocab.py, `audiorag vocab`): a list, a box, Add and Remove."""
    gr.Markdown("#### Vocabulary\nNames and terms Whisper should spell as given. New recordings are transcribed "
                "with them; search also finds where older transcripts mis-heard them. Several at once: separate "
                "them with commas.")
    listed = gr.Textbox(value=lambda: vocabulary_text(backend), label="Vocabulary", lines=4, interactive=False,
                        elem_id="vocab-list")
    with gr.Row():
        words = gr.Textbox(label="Entries", placeholder="e.g. Rollo, Rio Negro", elem_id="vocab-words", scale=3)
        episode = gr.Textbox(label="Only for episode (empty: the whole library)", elem_id="vocab-episode", scale=2)
    with gr.Row():
        add_btn = gr.Button("Add", size="sm", elem_id="vocab-add")
        remove_btn = gr.Button("Remove", size="sm", elem_id="vocab-remove")

    add_btn.click(friendly(lambda t, e: vocabulary_change(backend, "add", t, e)), [words, episode],
                  [listed, words], api_visibility="private")
    remove_btn.click(friendly(lambda t, e: vocabulary_change(backend, "remove", t, e)), [words, episode],
                     [listed, words], api_visibility="private")
    return SimpleNamespace(listed=listed, words=words, episode=episode, add=add_btn, remove=remove_btn)


def vocabulary_change(backend, action: str, text: str, episode: str) -> tuple[str, str]:
    """Add or remove the comma-separated entries of `text` (for `episode` when given); (the new list, an emptied
    box). A bad entry is a VocabError: one line on the page."""
    from rag import vocab

    given = [w for w in (text or "").split(",") if w.strip()] or [""]
    ep = (episode or "").strip() or None
    if action == "add":
        vocab.add(backend.store, given, ep)
    else:
        for w in given:
            vocab.remove(backend.store, w, ep)
    return vocabulary_text(backend), ""
