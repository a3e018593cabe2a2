"""Run `hone` in this process with a fault fired at an exact moment: the n-th call of a named function.

    python tests/faults.py '{"at": "hone.train.loop._step", "call": 3, "fault": "sigterm"}' train hone.yaml

Faults are real: `sigterm` sends SIGTERM to this process through the kernel (`times` of them, for the
"second signal" case), so hone's real handlers run; `fsize` lowers RLIMIT_FSIZE to `bytes`, so the
kernel refuses every write past that size with EFBIG, as a full disk refuses them with ENOSPC.
The fault fires just before the named function runs, then the function runs as usual.
"""

from __future__ import annotations

import importlib
import json
import os
import resource
import signal
import sys
from collections.abc import Callable
from typing import Any


def fire(spec: dict[str, Any]) -> None:
    if spec["fault"] == "sigterm":
        for _ in range(spec.get("times", 1)):
            os.kill(os.getpid(), signal.SIGTERM)
    elif spec["fault"] == "fsize":
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get EFBIG from write(), not a killed process
        resource.setrlimit(resource.RLIMIT_FSIZE, (spec["bytes"], resource.RLIM_INFINITY))
    else:
        raise ValueError(f"unknown fault {spec['fault']!r}")


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
