"""Every option of the config schema is shown to act, or says where and why not.

The rows live in the ``test_options_rows_*`` modules next to this one (see
``optionrows.py``); this test walks the schema and fails for any option
without a row, without a test elsewhere that varies it, and without a
reasoned exemption -- so an option added to a settings class must come with
its test, and an option nothing acts on has to be removed. An option shown
elsewhere or exempted must at least be read by the package.
"""

from __future__ import annotations

import ast
import importlib
import re
from functools import cache
from pathlib import Path

import pytest
from optionrows import schema_paths

from monitor.config import Config

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent
PACKAGE = {p: p.read_text(encoding="utf-8") for p in (TESTS.parent / "monitor").rglob("*.py")}
MODULES = sorted(p.stem for p in HERE.glob("test_options_rows_*.py"))
PATHS = sorted(schema_paths(Config))


def _tables() -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    rows: dict[str, str] = {}
    elsewhere: dict[str, str] = {}
    exempt: dict[str, str] = {}
    for name in MODULES:
        module = importlib.import_module(name)
        for row in module.ROWS:
            assert row.path not in rows, f"{row.path} has two rows ({name}, {rows[row.path]})"
            rows[row.path] = name
        elsewhere.update(getattr(module, "ELSEWHERE", {}))
        exempt.update(getattr(module, "EXEMPT", {}))
    return rows, elsewhere, exempt


ROWS, ELSEWHERE, EXEMPT = _tables()


@cache
def _test_source(node_id: str) -> str:
    file, _, name = node_id.partition("::")
    path = TESTS.parent / file
    assert path.is_file(), f"{node_id}: no such test file"
    source = path.read_text(encoding="utf-8")
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef) and node.name == name:
            return ast.get_source_segment(source, node) or ""
    raise AssertionError(f"{node_id}: no such test")


def test_the_walk_sees_the_whole_schema() -> None:
    assert len(PATHS) > 180
    assert {"frames.on_missing", "feeds[kafka].url_prefixes", "feeds[http].download.retries",
            "goes.confirmation.after_s", "alerts.rules.cooldown_s"} <= set(PATHS)


@pytest.mark.parametrize("path", PATHS)
def test_every_option_has_a_behaviour_test_or_a_reason(path: str) -> None:
    where = [kind for kind, table in (("row", ROWS), ("elsewhere", ELSEWHERE),
                                      ("exempt", EXEMPT)) if path in table]
    assert where, (f"{path} has no behaviour row, no test elsewhere and no exemption: add a "
                   f"row to tests/options/test_options_rows_*.py, or remove the option")
    assert len(where) == 1, f"{path} is listed more than once: {where}"


def test_no_row_names_an_option_the_schema_lacks() -> None:
    unknown = (set(ROWS) | set(ELSEWHERE) | set(EXEMPT)) - set(PATHS)
    assert not unknown, f"rows for options that do not exist (renamed or removed?): {unknown}"


@pytest.mark.parametrize("path", sorted(ELSEWHERE))
def test_a_test_elsewhere_exists_and_sets_the_option(path: str) -> None:
    source = _test_source(ELSEWHERE[path])
    name = path.rsplit(".", 1)[-1]
    assert re.search(rf"\b{name}\b", source), (
        f"{ELSEWHERE[path]} does not mention {name}: it cannot vary {path}")


@pytest.mark.parametrize("path", sorted(EXEMPT))
def test_an_exemption_names_the_test_that_covers_the_option(path: str) -> None:
    reason = EXEMPT[path]
    node_ids = re.findall(r"tests/[\w/]+\.py::\w+", reason)
    assert node_ids and len(reason) > len(node_ids[0]) + 20, (
        f"{path}: an exemption says why and names the covering test: {reason!r}")
    for node_id in node_ids:
        _test_source(node_id)


@pytest.mark.parametrize("path", sorted(EXEMPT) + sorted(ELSEWHERE))
def test_an_option_without_a_row_here_is_still_read_by_the_package(path: str) -> None:
    # rows show their options acting; without one, at least the package must read it
    name = path.rsplit(".", 1)[-1]
    read = re.compile(rf"\.{name}\b|[\"']{name}[\"']")
    assert any(read.search(text) for text in PACKAGE.values()), (
        f"{path} is exempted but nothing in monitor/ reads it: remove the option")
