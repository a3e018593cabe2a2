"""Turn hone's expected failures into one clear message and an exit code, never a traceback."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext

import typer
from rich.console import Console

console = Console(stderr=True)

EXIT_FAILED = 1  # the command ran and found a problem (bad data, no gain)
EXIT_USAGE = 2  # bad config or arguments


@contextmanager
def friendly_errors(stop_on_signal: bool = True) -> Iterator[None]:
    """Expected failures become a message and an exit code. With `stop_on_signal`, SIGTERM/SIGINT stop the
    command cleanly (hone.train.signals) and exit with 128 + the signal; the server drains on its own instead."""
    from hone.config import ConfigError
    from hone.data.problems import DataError
    from hone.train.signals import Stopped, graceful_stop

    try:
        with graceful_stop(interrupt=True) if stop_on_signal else nullcontext():
            yield
    except Stopped as exc:
        console.print(f"[yellow]{exc}[/]", highlight=False, soft_wrap=True)
        raise typer.Exit(exc.exit_code) from None
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
    from hone.runs.lock import RunInUse
    from hone.runs.registry import RegistryDamaged
    from hone.train.checkpoint import CheckpointError
    from hone.train.loop import NonFiniteError
    from hone.train.trainer import OutOfMemory

    expected = (
        ModelNotFound,
        CheckpointError,
        NonFiniteError,
        OutOfMemory,
        RunInUse,
        RegistryDamaged,
        FileNotFoundError,
        IsADirectoryError,
        FileExistsError,
        PermissionError,
    )
    return isinstance(exc, expected) or (
        isinstance(exc, (RuntimeError, ValueError)) and type(exc) in (RuntimeError, ValueError)
    )


def _fail(message: str, code: int) -> None:
    from rich.markup import escape

    # escaped: a message quoting data (a file's first bytes, a label like [x]) must print as it is, not as markup
    console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)
