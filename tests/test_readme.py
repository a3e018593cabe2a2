"""The README's quickstart is the contract with a new user: keep it two commands, and CI on the second."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _quickstart() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", section, flags=re.S)
    return [line for block in blocks for line in block.strip().splitlines()]


def test_quickstart_is_two_commands_and_ci_runs_the_test_one() -> None:
    install_and_demo, install_and_test = _quickstart()
    assert install_and_demo.endswith("hone demo")
    assert "pytest" in install_and_test
    assert install_and_test in (ROOT / ".ci" / "run").read_text()


def test_constraints_pin_every_dependency_within_the_pyproject_bounds() -> None:
    """CI installs .ci/constraints.txt: each dependency of hone and of its dev extra has an exact version there,
    and that version is one pyproject.toml admits (a refresh cannot silently leave a bound behind)."""
    import pytest
    from packaging.requirements import Requirement

    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    pins = {}
    for line in (ROOT / ".ci" / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[name.lower().replace("_", "-")] = version
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    needed = [Requirement(r) for r in project["dependencies"] + extras["dev"]]
    for req in list(needed):  # the extras dev pulls in by name (hone[serve,onnx,...]) are tested too
        if req.name == "hone":
            needed += [Requirement(r) for extra in req.extras for r in extras[extra]]
    for req in needed:
        name = req.name.lower().replace("_", "-")
        if name in ("hone", "torch"):  # hone is the project; torch is pinned on the command line
            continue
        assert name in pins, f"{req.name} is not pinned in .ci/constraints.txt"
        assert req.specifier.contains(pins[name], prereleases=True), f"{req.name}=={pins[name]} breaks {req}"


def test_every_run_status_is_in_the_readme() -> None:
    """The dashboard's run list names each status a run can have, as the registry records them."""
    from typing import get_args

    from hone.runs.registry import Status

    text = (ROOT / "README.md").read_text()
    listed = re.search(r"status \(([a-z /]+)\)", text)
    assert listed is not None, "the README lists the run statuses as `status (a / b / ...)`"
    assert listed.group(1).split(" / ") == list(get_args(Status))


def test_the_quickstart_shows_what_the_demo_prints_and_its_check_lines_are_real() -> None:
    """The excerpt of `hone demo`'s output starts at its first line; the data check's lines are what the check of
    the bundled example prints today (the clone's path written as <clone>), and the step count is the run's."""
    import hone
    from hone.api import example_config
    from hone.train.loop import steps_per_epoch

    text = (ROOT / "README.md").read_text()
    excerpt = text.split("What the demo printed here", 1)[1].split("```\n", 2)[1]
    lines = excerpt.splitlines()
    assert lines[0] == "[1/5] check    <clone>/examples/tickets/tickets.jsonl"
    config = hone.load_config(example_config("tickets"))
    checked = hone.check(config)
    printed = [f"      {line}".replace(str(ROOT), "<clone>") for line in checked.summary_lines()]
    assert lines[1 : 1 + len(printed)] == printed
    train = checked.stats["splits"]["train"]
    steps = steps_per_epoch(train, config.train.batch_size, config.train.grad_accum) * config.train.epochs
    assert f"{steps} steps" in excerpt and [line[:5] for line in lines if line.startswith("[")] == [
        f"[{i}/5]" for i in range(1, 6)
    ]
    assert lines[-1].startswith("report: <clone>/runs/tickets-") and lines[-1].endswith("/report.html")
