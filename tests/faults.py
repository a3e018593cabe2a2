"""Run `hone` in this process with a fault fired at an exact moment: the n-th call of a named function.

    python tests/faults.py '{"at": "hone.train.loop._step", "call": 3, "fault": "sigterm"}' train hone.yaml

Faults are real: `sigterm` sends SIGTERM to this process through the kernel (`times` of them, for the
"second signal" case), so hone's real handlers run; `sigterm_in_c_call` sends `times` that all arrive during
one C call of the main thread, as two quick signals during a real step's matmul do; `fsize` lowers
RLIMIT_FSIZE to `bytes`, so the kernel refuses every write past that size with EFBIG, as a full disk refuses
them with ENOSPC.
The fault fires just before the named function runs, then the function runs as usual.
"""

from __future__ import annotations

import importlib
import json
import os
import resource
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any


def fire(spec: dict[str, Any]) -> None:
    if spec["fault"] == "sigterm":
        for _ in range(spec.get("times", 1)):
            os.kill(os.getpid(), signal.SIGTERM)
    elif spec["fault"] == "sigterm_in_c_call":
        _signals_during_one_c_call(spec.get("times", 2))
    elif spec["fault"] == "fsize":
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get EFBIG from write(), not a killed process
        resource.setrlimit(resource.RLIMIT_FSIZE, (spec["bytes"], resource.RLIM_INFINITY))
    else:
        raise ValueError(f"unknown fault {spec['fault']!r}")


def _signals_during_one_c_call(times: int) -> None:
    """`times` SIGTERMs that all arrive while the main thread is inside one C call (as during a long matmul of a
    real training step): Python runs its handler once for them, after the call. The main thread blocks SIGTERM
    and waits in os.read; another thread signals itself (pthread_kill: delivered before the call returns), then
    wakes the main thread, which unblocks SIGTERM and goes on."""
    done_r, done_w = os.pipe()
    go = threading.Event()

    def send() -> None:
        go.wait()
        for _ in range(times):
            signal.pthread_kill(threading.get_ident(), signal.SIGTERM)
        os.write(done_w, b"x")

    sender = threading.Thread(target=send)
    sender.start()  # before the block below: a thread inherits its creator's signal mask
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    go.set()
    os.read(done_r, 1)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
    sender.join()


def arm(spec: dict[str, Any]) -> None:
    """Replace `spec["at"]` (module.function) by a wrapper that fires the fault on call number `spec["call"]`."""
    module_name, _, name = spec["at"].rpartition(".")
    module = importlib.import_module(module_name)
    original: Callable[..., Any] = getattr(module, name)
    calls = 0

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == spec.get("call", 1):
            fire(spec)
        return original(*args, **kwargs)

    setattr(module, name, wrapper)


if __name__ == "__main__":
    arm(json.loads(sys.argv[1]))
    from hone.cli import main

    sys.argv = ["hone", *sys.argv[2:]]
    main()
