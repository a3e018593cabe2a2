"""Run the app under uvicorn with a graceful drain.

The first SIGTERM (or Ctrl-C) marks the server draining: `/ready` turns false and new requests get 503,
requests in flight finish (at most `drain_timeout_s`), then uvicorn stops and the process exits 0.
A second signal stops at once.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
import time
from types import FrameType

import uvicorn

from hone.serve.app import ServerState, create_app
from hone.serve.config import ServeConfig

log = logging.getLogger("hone.serve")
REJECTION_LOG_INTERVAL_S = 1.0


class FewRejectionLines(logging.Filter):
    """Pass uvicorn's access-log lines, except that of 429s at most one every `interval_s` seconds.

    Under overload most requests are refused; writing a line for each cost ~70 µs, as much as refusing the
    request itself, so logging turned into the bottleneck. `hone_rejected_total` still counts every one.
    """

    def __init__(self, interval_s: float = REJECTION_LOG_INTERVAL_S) -> None:
        super().__init__()
        self.interval_s, self.next_at = interval_s, 0.0

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args  # uvicorn's access line: (client, method, path, http version, status)
        if not (isinstance(args, tuple) and len(args) == 5 and args[4] == 429):
            return True
        now = time.monotonic()
        if now < self.next_at:
            return False
        self.next_at = now + self.interval_s
        return True


class DrainingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, state: ServerState, drain_timeout_s: float) -> None:
        super().__init__(config)
        self.state, self.drain_timeout_s = state, drain_timeout_s

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # Not recorded in uvicorn's captured signals: re-raising SIGTERM after the drain would turn a clean
        # shutdown into death by signal.
        if self.state.draining:
            self.force_exit = self.should_exit = True
            return
        self.state.draining = True
        threading.Thread(target=self._drain, name="hone-drain", daemon=True).start()

    def _drain(self) -> None:
        deadline = time.monotonic() + self.drain_timeout_s
        log.info("draining: %d request(s) in flight", self.state.inflight)
        while self.state.inflight > 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        if self.state.inflight > 0:
            log.warning("drain timeout: %d request(s) still running are cut off", self.state.inflight)
        self.should_exit = True


def serve(config: ServeConfig, keys: list[str] | None, log_level: str = "info") -> None:
    """Serve until a signal; returns after a clean drain."""
    app = create_app(config, keys, freeze_heap=True)
    server_config = uvicorn.Config(
        app,
        host=config.host,
        port=config.port,
        log_level=log_level,
        timeout_graceful_shutdown=max(1, int(config.drain_timeout_s)),
        # a last guard against socket exhaustion: overload is answered by the queue (429), far below this
        limit_concurrency=max(1024, config.max_queue * 16),
        server_header=False,
    )
    if importlib.util.find_spec("httptools") is None:
        log.warning(
            "uvicorn parses HTTP in pure Python (h11): install uvicorn[standard] (httptools, uvloop), which "
            "handles a request in about half the time; under overload that time is taken from the models"
        )
    logging.getLogger("uvicorn.access").addFilter(FewRejectionLines())
    DrainingServer(server_config, app.state.hone, config.drain_timeout_s).run()
