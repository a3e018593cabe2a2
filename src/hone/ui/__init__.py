"""`hone ui`: a local web dashboard over a runs folder (runs, a run's results, comparisons, learning
curves, ratings, a playground for `hone serve`, and training started from the browser)."""

from __future__ import annotations

from typing import Any


def create_app(*args: Any, **kwargs: Any) -> Any:
    """The dashboard's FastAPI app; see `hone.ui.app.create_app` (imported lazily: FastAPI is the serve extra)."""
    from hone.ui.app import create_app as build

    return build(*args, **kwargs)


__all__ = ["create_app"]
