"""Run the app under uvicorn with a graceful drain and bounded connections.

The first SIGTERM (or Ctrl-C) marks the server draining: `/ready` turns false and new requests get 503,
requests in flight finish (at most `drain_timeout_s`), then uvicorn stops, the model worker is told to stop,
and the process exits 0. A second signal stops at once.

uvicorn's HTTP protocol is wrapped by `hone.serve.connections.guarded_protocol` (idle and slow-header
connections time out; past `max_connections` the longest-idle one is closed), and uvicorn's own
`limit_concurrency`, which answers every request 503 once that many sockets are open, is off.
"""

from __future__ import annotations

import gc
import importlib.util
import logging
import resource
import threading
import time
from types import FrameType

import uvicorn

from hone.serve.app import HttpState, create_app
from hone.serve.config import ServeConfig
from hone.serve.connections import guarded_protocol

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
    def __init__(self, config: uvicorn.Config, state: HttpState, drain_timeout_s: float) -> None:
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


def serve(
    config: ServeConfig, keys: list[str] | None, log_level: str = "info", admin_keys: list[str] | None = None
) -> None:
    """Serve until a signal; returns after a clean drain."""
    app = create_app(config, keys, admin_keys)
    state: HttpState = app.state.hone
    _more_descriptors(config.max_connections)
    server_config = uvicorn.Config(
        app,
        host=config.host,
        port=config.port,
        log_level=log_level,
        http=guarded_protocol(_http_protocol(), state.guard),
        timeout_graceful_shutdown=max(1, int(config.drain_timeout_s)),
        timeout_keep_alive=max(1, int(config.idle_timeout_s)),
        limit_concurrency=None,  # the guard bounds connections without refusing every request (module docstring)
        server_header=False,
    )
    logging.getLogger("uvicorn.access").addFilter(FewRejectionLines())
    # Everything imported so far lives as long as the process: frozen, the collector never walks it again (a
    # full collection of the web stack's objects paused the event loop, refusals included, for tens of ms).
    gc.collect()
    gc.freeze()
    DrainingServer(server_config, state, config.drain_timeout_s).run()


def _http_protocol() -> type:
    """uvicorn's httptools protocol (uvicorn[standard]: C parsing, about half h11's time per request), else h11."""
    if importlib.util.find_spec("httptools") is not None:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

        return HttpToolsProtocol
    log.warning(
        "uvicorn parses HTTP in pure Python (h11): install uvicorn[standard] (httptools, uvloop), which "
        "handles a request in about half the time"
    )
    from uvicorn.protocols.http.h11_impl import H11Protocol

    return H11Protocol


def _more_descriptors(connections: int) -> None:
    """Raise the open-file limit to its hard maximum: every connection is a descriptor, and at the soft limit
    (often 1,024) accepting fails for everyone."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    if soft != resource.RLIM_INFINITY and soft < connections + 64:
        log.warning("the open-file limit (%d) is below max_connections + 64; lower max_connections", soft)
