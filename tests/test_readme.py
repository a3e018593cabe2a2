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
