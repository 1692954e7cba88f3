"""The errors a user sees, and the one way they are shown.

Every error whose message is written for people — one line that says what is wrong and what to do — derives from
`AudioragError` (as simonw/llm's errors module). The CLI, the ingest report and the web app show such an error
as its message alone (`display`); anything else is a bug and is shown with its class name (and logged in full by
the app). Each subclass keeps the built-in base it had (ValueError, RuntimeError, OSError), so existing `except`
clauses still catch it.

Imports nothing of ours: every module may import it.
"""

from __future__ import annotations


class AudioragError(Exception):
    """Base of every user-facing error: str(exc) is one actionable line."""


class StoreError(AudioragError, RuntimeError):
    """A library problem the user can fix (rag.store, rag.storage)."""


class UserInputError(AudioragError, ValueError):
    """A request that cannot be served as asked (no episode chosen, a bad flag value…)."""


def is_user_error(exc: BaseException) -> bool:
    """Errors whose message is already for people: ours, plus the OS's own plain ones (missing file…)."""
    return isinstance(exc, (AudioragError, FileNotFoundError, PermissionError, IsADirectoryError))


def display(exc: BaseException) -> str:
    """One line for people: the message of a user-facing error; 'ClassName: message' for anything else."""
    lines = str(exc).strip().splitlines()
    text = lines[0].strip() if lines else ""
    if isinstance(exc, OSError) and getattr(exc, "strerror", None) and getattr(exc, "filename", None):
        text = f"Can't use {exc.filename}: {exc.strerror[0].lower() + exc.strerror[1:]}"
    if is_user_error(exc):
        text = text or exc.__class__.__name__
        first = text.split(maxsplit=1)[0]
        return text[0].upper() + text[1:] if first.rstrip(":,").isalpha() else text  # never a file name
    return f"{exc.__class__.__name__}: {text}" if text else exc.__class__.__name__
