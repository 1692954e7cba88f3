"""Tabular command output: a rich table on a terminal; piped or redirected, plain tab-separated lines.

rich sizes a table to the terminal, and to 80 columns when there is none, so a piped table cuts pack names
(`whisper-t…`) and folds paths over several lines. Off a terminal every value is written whole, one row per line
after a header line, which `cut -f`, `column -t -s$'\\t'` and `grep` read as is (`--json` remains the format for
programs). Cells are plain strings, never rich markup (a file named `talk [live].mp3` stays as it is); a cell may
be `(text, style)` to colour it on a terminal.
"""

from __future__ import annotations

import sys
from typing import Iterable, Sequence, TextIO, Union

Cell = Union[str, tuple[str, str]]


def _text(cell: Cell) -> str:
    return cell[0] if isinstance(cell, tuple) else cell


def show_table(columns: Sequence[str], rows: Iterable[Sequence[Cell]], title: str | None = None,
               caption: str | None = None, right: Sequence[str] = (), file: TextIO | None = None) -> None:
    """Print rows under `columns` to `file` (stdout): a table on a terminal, else `col<TAB>col` lines."""
    out = file or sys.stdout
    rows = list(rows)
    if not out.isatty():
        for line in (columns, *([_text(c) for c in r] for r in rows)):
            out.write("\t".join(" ".join(str(v).split()) for v in line) + "\n")  # tabs/newlines in a value: spaces
        out.flush()
        return
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    t = Table(title=title, caption=caption)
    for col in columns:
        t.add_column(col, overflow="fold", justify="right" if col in right else "left")
    for r in rows:
        t.add_row(*(Text(c[0], style=c[1]) if isinstance(c, tuple) else Text(c) for c in r))
    Console(file=out).print(t)
