"""The reality table as text, Markdown and JSON (``reality_report.*``)."""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from pathlib import Path
from typing import Any

from monitor.reality.compare import Row

__all__ = ["ReportError", "format_table", "markdown", "markdown_table", "read_report",
           "rows_from_report", "summary", "write_report"]

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


def markdown_table(rows: list[Row]) -> list[str]:
    """The rows as Markdown table lines."""
    return ["| " + " | ".join(_HEADER) + " |", "|---|---:|---:|---|---|",
            *("| " + " | ".join(_cells(r)) + " |" for r in rows)]


def markdown(rows: list[Row], world: str, notes: list[str], figures: list[str]) -> str:
    """The report as Markdown."""
    out = [f"# Reality check of the synthetic Sun (world {world})", "",
           f"{summary(rows)}.", ""]
    out += [f"* {n}" for n in notes] + [""]
    out += markdown_table(rows)
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


class ReportError(ValueError):
    """A file that is not a ``reality_report.json``; ``reason`` is a short code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


_TEXT_FIELDS = ("section", "quantity", "target", "unit")


def _row(index: int, raw: Any) -> Row:
    if not isinstance(raw, dict):
        raise ReportError("bad_row", f"rows[{index}]: not an object")
    for key in _TEXT_FIELDS:
        if not isinstance(raw.get(key, ""), str):
            raise ReportError("bad_row", f"rows[{index}].{key}: not a string")
    values = {}
    for key in ("real", "synthetic"):
        v = raw.get(key)
        # JSON has no NaN: write_report stores a value that could not be measured as null.
        if v is not None and (isinstance(v, bool) or not isinstance(v, int | float)):
            raise ReportError("bad_row", f"rows[{index}].{key}: not a number or null")
        values[key] = math.nan if v is None else float(v)
    met = raw.get("met")
    if met is not None and not isinstance(met, bool):
        raise ReportError("bad_row", f"rows[{index}].met: not true, false or null")
    if not raw.get("section") or not raw.get("quantity"):
        raise ReportError("bad_row", f"rows[{index}]: section and quantity are required")
    return Row(section=raw["section"], quantity=raw["quantity"], real=values["real"],
               synthetic=values["synthetic"], target=raw.get("target", ""), met=met,
               unit=raw.get("unit", ""))


def rows_from_report(doc: Any) -> tuple[str, list[Row]]:
    """The world and the rows of a parsed ``reality_report.json``, checked field by field."""
    if not isinstance(doc, dict) or not isinstance(doc.get("rows"), list):
        raise ReportError("not_a_report", "no list of rows")
    world = doc.get("world")
    if not isinstance(world, str) or not world:
        raise ReportError("not_a_report", "no world named")
    rows = [_row(i, raw) for i, raw in enumerate(doc["rows"])]
    if not rows:
        raise ReportError("empty", "the report has no rows")
    return world, rows


def read_report(path: Path) -> dict[str, Any]:
    """Load and check a ``reality_report.json``: world, summary, settings and rows."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReportError("missing", f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReportError("unreadable", f"{path}: {exc}") from None
    world, rows = rows_from_report(doc)
    settings = doc.get("settings")
    return {"world": world, "summary": summary(rows),
            "settings": settings if isinstance(settings, dict) else {},
            "rows": [{k: _json_value(v) for k, v in asdict(r).items()} for r in rows]}
