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
        gr.Markdown("#### Vocabulary\nNames and terms to spell as given, for the library or one episode: the "
                    "**Teach** tab (with the corrections and fine-tuning).", elem_id="set-vocab-note")
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
