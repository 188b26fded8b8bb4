"""The reality table as text, Markdown and JSON (``reality_report.*``)."""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from pathlib import Path
from typing import Any

from monitor.reality.compare import Row

__all__ = ["format_table", "markdown", "summary", "write_report"]

_HEADER = ("quantity", "real", "synthetic", "target", "met")


def _num(value: float) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    a = abs(value)
    if a != 0 and (a < 1e-2 or a >= 1e4):
        return f"{value:.3g}"
    return f"{value:.4g}"


def _met(row: Row) -> str:
    return "—" if row.met is None else ("yes" if row.met else "NO")


def _cells(row: Row) -> tuple[str, ...]:
    unit = f" [{row.unit}]" if row.unit else ""
    return (f"{row.section}. {row.quantity}{unit}", _num(row.real), _num(row.synthetic),
            row.target or "—", _met(row))


def summary(rows: list[Row]) -> str:
    """``"12 of 30 targets met"``."""
    targeted = [r for r in rows if r.met is not None]
    return f"{sum(bool(r.met) for r in targeted)} of {len(targeted)} targets met"


def format_table(rows: list[Row]) -> str:
    """Plain-text table, one row per line, columns aligned."""
    cells = [_HEADER, *(_cells(r) for r in rows)]
    widths = [max(len(c[i]) for c in cells) for i in range(len(_HEADER))]
    return "\n".join(" | ".join(c[i].ljust(widths[i]) for i in range(len(_HEADER))).rstrip()
                     for c in cells)


def markdown(rows: list[Row], world: str, notes: list[str], figures: list[str]) -> str:
    """The report as Markdown."""
    out = [f"# Reality check of the synthetic Sun (world {world})", "",
           f"{summary(rows)}.", ""]
    out += [f"* {n}" for n in notes] + [""]
    out += ["| " + " | ".join(_HEADER) + " |", "|---|---:|---:|---|---|"]
    out += ["| " + " | ".join(_cells(r)) + " |" for r in rows]
    out += [""] + [f"![{f}]({f})" for f in figures]
    return "\n".join(out) + "\n"


def _json_value(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_report(out_dir: Path, rows: list[Row], world: str, notes: list[str],
                 figures: list[str], settings: dict[str, Any]) -> tuple[Path, Path]:
    """Write ``reality_report.json`` and ``reality_report.md`` into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    doc = {"world": world, "summary": summary(rows), "settings": settings, "notes": notes,
           "figures": figures,
           "rows": [{k: _json_value(v) for k, v in asdict(r).items()} for r in rows]}
    json_path = out_dir / "reality_report.json"
    json_path.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
    md_path = out_dir / "reality_report.md"
    md_path.write_text(markdown(rows, world, notes, figures))
    return json_path, md_path
