"""Result tables that keep one line per row at any width: in a terminal, or piped (where rich assumes 80 columns).

Each column has a kind. A plain column (a name, a verdict, a number) is never wrapped or shortened. When the table
is too wide, a ``paths`` column gives up the start of its cells, keeping the file name that tells rows apart
(``…/outputs/var-shapes_c3_s0_007.png``), and a ``texts`` column gives up their end (``VAR d16, ImageNet 25…``).
Cells are plain text: no rich markup is read from them, so brackets in a path are safe.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence

from rich.cells import cell_len, set_cell_size
from rich.text import Text

ELLIPSIS = "…"
GAP = 2  # spaces between columns
MIN_VALUE_WIDTH = 20  # a value column narrower than this would wrap into a column of fragments


def elide(text: str, width: int, keep: str) -> str:
    """``text`` cut to ``width`` cells with an ellipsis, keeping its "start" or its "end" (for a path, from a
    folder separator where one is in what is kept)."""
    if cell_len(text) <= width:
        return text
    if width <= 1:
        return ELLIPSIS[:width]
    if keep == "start":
        return set_cell_size(text, width - 1) + ELLIPSIS
    tail = text
    while cell_len(tail) > width - 1:
        tail = tail[1:]
    cut = min((i for i in (tail.find("/"), tail.find("\\")) if i > 0), default=0)
    return ELLIPSIS + tail[cut:]


def fit(natural: Sequence[int], shrinkable: Collection[int], room: int) -> list[int]:
    """Column widths within ``room`` cells: the widest shrinkable column gives up a cell at a time, down to one, so
    that plain columns keep theirs (a row of plain columns wider than the room runs past it, whole)."""
    widths = list(natural)
    while sum(widths) > room:
        candidates = [i for i in shrinkable if widths[i] > 1]
        if not candidates:
            break
        widths[max(candidates, key=lambda i: widths[i])] -= 1
    return widths


class OneLineTable:
    """A table of ``rows`` under a bold header, columns two spaces apart, each row one line. Cells are plain text
    (no rich markup is read from them: brackets in a path are safe). ``paths`` and ``texts`` name the columns that
    may shrink, ``right`` those aligned right (numbers)."""

    def __init__(self, columns: Sequence[str], rows: Iterable[Sequence[object]], *, paths: Collection[str] = (),
                 texts: Collection[str] = (), right: Collection[str] = ()) -> None:
        self.columns = list(columns)
        self.rows = [[str(cell) for cell in row] for row in rows]
        self.keep = {name: "end" if name in paths else "start" for name in (*paths, *texts)}
        self.right = set(right)

    def __rich_console__(self, console, options):
        natural = [max(map(cell_len, cells)) for cells in zip(self.columns, *self.rows)]
        shrinkable = [i for i, name in enumerate(self.columns) if name in self.keep]
        widths = fit(natural, shrinkable, options.max_width - GAP * (len(self.columns) - 1))
        yield Text(self.line(self.columns, widths, header=True), style="bold")
        for row in self.rows:
            yield Text(self.line(row, widths))

    def line(self, cells: Sequence[str], widths: Sequence[int], *, header: bool = False) -> str:
        laid = []
        for name, cell, width in zip(self.columns, cells, widths):
            text = elide(cell, width, "start" if header else self.keep.get(name, "start"))
            pad = " " * (width - cell_len(text))
            laid.append(pad + text if name in self.right else text + pad)
        return (" " * GAP).join(laid).rstrip()


class KeyValueTable:
    """Two columns without a header, a name and its value: a long value (a path, an error) wraps under itself, so
    the names stay one column a person can scan."""

    def __init__(self, rows: Iterable[tuple[str, object]]) -> None:
        self.rows = [(key, str(value)) for key, value in rows]

    def __rich_console__(self, console, options):
        import textwrap

        width = max((cell_len(key) for key, _ in self.rows), default=0)
        room = max(options.max_width - width - GAP, MIN_VALUE_WIDTH)
        for key, value in self.rows:
            lines = textwrap.wrap(value, room, break_on_hyphens=False) or [""]
            for label, line in zip([key, *[""] * len(lines)], lines):
                yield Text(label.ljust(width) + " " * GAP + line)
