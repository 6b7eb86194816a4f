"""Bench tables: printed on stdout and written to bench/results/."""

from __future__ import annotations

import json
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parents[2] / "bench" / "results"


@dataclass
class Table:
    """One table of a bench: `columns` names, `rows` values, `notes` lines under it.

    `targets` lines say what the issue binds and whether this run met it
    (`"PASS ..."` / `"FAIL ..."`), so a reader sees the verdict next to the figures.
    """

    title: str
    columns: list[str]
    rows: list[list[Any]]
    notes: list[str] = field(default_factory=list)
    targets: list[str] = field(default_factory=list)

    def render(self) -> str:
        cells = [[_fmt(v) for v in row] for row in self.rows]
        widths = [len(c) for c in self.columns]
        for row in cells:
            for i, c in enumerate(row):
                widths[i] = max(widths[i], len(c))
        line = "  ".join(c.ljust(w) for c, w in zip(self.columns, widths, strict=True))
        out = [f"## {self.title}", "", line, "  ".join("-" * w for w in widths)]
        for row in cells:
            out.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
        out += [""] + [f"note: {n}" for n in self.notes]
        out += [f"target: {t}" for t in self.targets]
        return "\n".join(out).rstrip() + "\n"


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        if v != v:
            return "-"
        return f"{v:.3g}" if abs(v) < 100 else f"{v:.0f}"
    return str(v)


def write(name: str, tables: list[Table]) -> str:
    """Write `bench/results/<name>.md` and `.json`; return the rendered text."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    head = f"# bench {name}: {time.strftime('%Y-%m-%d %H:%M:%S')} on {platform.node()} ({platform.processor() or platform.machine()})\n\n"
    text = head + "\n".join(t.render() for t in tables)
    (RESULTS / f"{name}.md").write_text(text)
    (RESULTS / f"{name}.json").write_text(json.dumps(
        [{"title": t.title, "columns": t.columns, "rows": t.rows, "notes": t.notes,
          "targets": t.targets} for t in tables], indent=1, default=str))
    return text
