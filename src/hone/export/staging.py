"""Write an export folder atomically: built in a temporary folder beside the target, every file fsynced, then
renamed into place, so a failed or refused export leaves nothing that looks finished. Only an empty folder or
an earlier export (it holds the export's marker file) is ever replaced.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

MARKER = "hone.json"  # model exports; other exports name their own


def check_target(out: Path, marker: str = MARKER) -> None:
    """Replace only an empty folder or an earlier export (it holds `marker`), never anything else."""
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise FileExistsError(f"{out} exists and is not a folder; choose another output path")
    if out.is_dir() and any(out.iterdir()) and not (out / marker).is_file():
        raise FileExistsError(f"{out} is a folder with other files in it; export to a new or empty folder")


@contextmanager
def staged(out: Path, marker: str = MARKER) -> Iterator[Path]:
    """A temporary folder beside `out`, its files fsynced and renamed to `out` when the block succeeds, removed
    when it fails. `out` may be missing, an empty folder or an earlier export (replaced whole); nothing else."""
    check_target(out, marker)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        yield tmp
        for path in tmp.rglob("*"):
            if path.is_file():
                with open(path, "rb") as fh:
                    os.fsync(fh.fileno())
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        if out.exists():
            os.replace(out, old)
        os.replace(tmp, out)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
