"""Time budgets for one file's work (decode, transcription, a text import's embedding): `with budget(s, what):`
around a stage, and `check()` inside its loops. A stage over its budget raises `BudgetExceeded`, one line, and the
batch goes on with the next file. The budget lives in a context variable, so concurrent ingests (the web app's
threads) each keep their own; code that runs outside any budget is never stopped.
"""

from __future__ import annotations

import contextlib
import contextvars
import time

from rag.errors import AudioragError

_deadline: contextvars.ContextVar[tuple[float, float, str] | None] = contextvars.ContextVar("deadline", default=None)


class BudgetExceeded(AudioragError, RuntimeError):
    """A stage took longer than its time budget (a setting). The message is one line."""


@contextlib.contextmanager
def budget(seconds: float | None, what: str):
    """Run the block under a time budget of `seconds` (None or ≤ 0: no limit). `what` names the setting."""
    if not seconds or seconds <= 0:
        yield
        return
    token = _deadline.set((time.monotonic() + seconds, seconds, what))
    try:
        yield
    finally:
        _deadline.reset(token)


def check() -> None:
    """Raise BudgetExceeded when the current stage has run past its budget."""
    current = _deadline.get()
    if current is not None and time.monotonic() > current[0]:
        _, seconds, what = current
        raise BudgetExceeded(f"stopped after {seconds:g} s: over the time budget ({what})")
