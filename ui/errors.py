"""Errors as readable messages: every handler is wrapped so a failure reaches the page (or the API client) as one
line in a gr.Error, not a traceback or a silent spinner. The full traceback goes to the server log."""

from __future__ import annotations

import functools
import inspect
import logging

import gradio as gr

from rag.errors import display, is_user_error

log = logging.getLogger("audiorag.ui")

# One queue for everything that runs a model: the models are shared by all sessions and the cores are few, so
# model work is serialised (others wait in the queue, visibly) instead of competing and running out of memory.
MODELS_QUEUE = "models"

message = display  # one home for how an error reads (rag/errors.py)


def _to_gr(exc: Exception) -> gr.Error:
    if isinstance(exc, gr.Error):
        return exc
    if not is_user_error(exc):
        log.exception("handler failed")
    return gr.Error(message(exc))


def friendly(fn):
    """Wrap a handler (plain function or generator) so exceptions become gr.Error with a one-line message."""
    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def gen(*args, **kwargs):
            try:
                yield from fn(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001 — shown to the user, logged in full
                raise _to_gr(exc) from exc

        return gen

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 — shown to the user, logged in full
            raise _to_gr(exc) from exc

    return wrapper
