"""A real headless browser for web-page tests: Debian's Chromium driven by Playwright.

`page` fixtures from here collect every console error and failed request, so a test ends with
`assert_clean(page)`. Pages are served by a real uvicorn server on a free port (`serve_app`).
Without Chromium the tests skip with the install command, except where HONE_REQUIRE_BROWSER is set
(`.ci/run` sets it): there a missing browser fails instead of passing quietly.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

CHROMIUM = os.environ.get("HONE_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
INSTALL = "apt-get install -y chromium && pip install playwright"


def _require() -> None:
    missing = []
    if CHROMIUM is None:
        missing.append("chromium")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("playwright")
    if not missing:
        return
    message = f"browser tests need {' and '.join(missing)}: {INSTALL}"
    if os.environ.get("HONE_REQUIRE_BROWSER"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One Chromium per test module. Not per session: Playwright's sync API keeps an asyncio loop running on
    this thread while it is open, and later tests that call `asyncio.run` would fail."""
    _require()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh page whose console errors, page errors and failed requests land in `page.problems`."""
    context = browser.new_context()
    pg = context.new_page()
    pg.problems = []
    pg.on("console", lambda m: pg.problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    pg.on("pageerror", lambda e: pg.problems.append(f"page error: {e}"))
    pg.on("requestfailed", lambda r: pg.problems.append(f"request failed: {r.url} {r.failure}"))
    pg.on(
        "response",
        lambda r: pg.problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None,
    )
    yield pg
    context.close()


def assert_clean(pg: Any) -> None:
    """No console error, uncaught exception, failed request or HTTP error since the page opened."""
    assert pg.problems == [], "\n".join(pg.problems)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve_app(app: Any) -> Iterator[str]:
    """Run an ASGI app on a real socket in a thread; yields its base URL."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
