"""The human judging page in a real browser: buttons and keys record the right winner given the shown order."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from browser import assert_clean, serve_app
from hone.compare import open_comparison
from hone.compare.human import human_app


def outputs(path: Path, n: int = 2) -> Path:
    rows = []
    for i in range(n):
        prompt, reference = f"when does order {i} ship?", f"order {i} ships monday"
        for system, answer in (("exact", reference), ("close", f"order {i} ships soon"), ("off", "no idea")):
            rows.append({"system": system, "prompt": prompt, "output": f"{answer} [{system}]", "reference": reference})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def shown_systems(page: Any) -> tuple[str, str]:
    """Which system is shown as A and as B: each answer ends with its system's name in brackets."""
    a, b = page.text_content("#answer-a"), page.text_content("#answer-b")
    return a.rsplit("[", 1)[1].rstrip("]"), b.rsplit("[", 1)[1].rstrip("]")


def act(page: Any, how: str, judged: int | None) -> None:
    """Click a button or press a key, then wait until the next pair is on screen (`judged` None: the last pair)."""
    token = page.get_attribute("body", "data-token")
    if how.startswith("#"):
        page.click(how)
    else:
        page.keyboard.press(how)
    if judged is None:
        return
    page.wait_for_function("t => document.body.dataset.token !== t", arg=token)
    assert page.text_content("#progress") == f"{judged} of 6 judged"


def test_human_page_records_choices_in_the_shown_order(page: Any, tmp_path: Path) -> None:
    comparison = open_comparison(outputs=[outputs(tmp_path / "o.jsonl")], out=tmp_path / "cmp", seed=3)
    assert len(comparison.pairs) == 6 and len({p.shown_first == p.a for p in comparison.pairs}) == 2
    expected: list[tuple[str | None, tuple[str, str] | None]] = []
    with serve_app(human_app(comparison)) as url:
        page.goto(url + "/")
        page.wait_for_selector("#answer-a:not(:empty)")
        assert page.text_content("#progress") == "0 of 6 judged"
        steps = [("#pick-a", "A", 1), ("b", "B", 2), ("#pick-tie", "tie", 3), ("s", "skip", 3), ("a", "A", 4)]
        steps.append(("#pick-b", "B", None))
        for how, choice, judged in steps:
            first, second = shown_systems(page)
            winner = {"A": first, "B": second}.get(choice)
            expected.append((winner, (first, second)) if choice != "skip" else (None, None))
            act(page, how, judged)
        page.wait_for_url(url + "/done")
        assert page.locator("#ratings tr").count() == 4  # header + three systems
        assert "1 pairs left" in page.text_content("body")
        assert_clean(page)
    rows = [json.loads(line) for line in (tmp_path / "cmp" / "judgments.jsonl").read_text().splitlines()]
    recorded = [(winner, shown) for winner, shown in expected if shown is not None]
    assert len(rows) == len(recorded) == 5
    for row, (winner, (first, second)) in zip(rows, recorded, strict=True):
        assert row["judge"] == "human" and row["shown_first"] == first and {row["a"], row["b"]} == {first, second}
        assert row["winner"] == ("tie" if winner is None else ("a" if row["a"] == winner else "b"))
    result = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    assert result["rated_by"] == "human" and len(result["judgments"]) == 5
