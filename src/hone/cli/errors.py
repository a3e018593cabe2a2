"""Turn hone's expected failures into one clear message and an exit code, never a traceback."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console

console = Console(stderr=True)

EXIT_FAILED = 1  # the command ran and found a problem (bad data, no gain)
EXIT_USAGE = 2  # bad config or arguments


@contextmanager
def friendly_errors() -> Iterator[None]:
    from hone.config import ConfigError
    from hone.data.problems import DataError

    try:
        yield
    except (ConfigError, typer.BadParameter) as exc:
        _fail(str(exc), EXIT_USAGE)
    except DataError as exc:
        _fail(str(exc), EXIT_FAILED)
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    except Exception as exc:  # known failure kinds get their message; anything else keeps its traceback
        if _is_expected(exc):
            _fail(f"{type(exc).__name__}: {exc}", EXIT_FAILED)
        raise


def _is_expected(exc: Exception) -> bool:
    from hone.models.resolve import ModelNotFound
    from hone.train.checkpoint import CheckpointError
    from hone.train.loop import NonFiniteError

    expected = (ModelNotFound, CheckpointError, NonFiniteError, FileNotFoundError, FileExistsError, PermissionError)
    return isinstance(exc, expected) or (
        isinstance(exc, (RuntimeError, ValueError)) and type(exc) in (RuntimeError, ValueError)
    )


def _fail(message: str, code: int) -> None:
    console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)
