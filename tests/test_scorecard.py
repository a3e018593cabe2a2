"""RELIABILITY.md stays in step with the tests: every item listed, every test it names exists."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import scorecard

ROOT = Path(__file__).resolve().parent.parent


def _test_functions(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef) and node.name.startswith("test")}


def test_every_test_the_scorecard_names_exists() -> None:
    for item in scorecard.ITEMS:
        for node in item.tests:
            file, _, name = node.partition("::")
            assert (ROOT / file).is_file(), (item.number, file)
            if name:
                assert name in _test_functions(ROOT / file), (item.number, node)


def test_reliability_md_lists_every_item_with_its_command() -> None:
    text = (ROOT / "RELIABILITY.md").read_text()
    rows = {int(m.group(1)): m.group(0) for m in re.finditer(r"^\| (\d+) \|.*$", text, re.M)}
    assert sorted(rows) == [item.number for item in scorecard.ITEMS] == list(range(1, len(scorecard.ITEMS) + 1))
    fresh = scorecard.render({}, "now")
    for item in scorecard.ITEMS:
        command = next(line for line in fresh.splitlines() if line.startswith(f"| {item.number} |")).split(" | ")[-1]
        assert rows[item.number].endswith(command), f"RELIABILITY.md item {item.number} is stale: re-render it"


def test_record_writes_one_file_per_test(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HONE_SCORECARD_DIR", str(tmp_path))
    scorecard.record(4, "first figure")
    monkeypatch.setenv("PYTEST_CURRENT_TEST", "tests/x.py::test_other (call)")
    scorecard.record(4, "second figure")
    assert sorted(scorecard.figures(tmp_path)[4]) == ["first figure", "second figure"]
    assert "| 4 |" in scorecard.render(scorecard.figures(tmp_path), "now")
