"""A time budget for rendering chat templates.

A run's `chat_template.jinja` is code: Jinja's sandbox (transformers renders templates in
`ImmutableSandboxedEnvironment`) keeps it from touching the process, but not from looping: two nested
`range(6000)` loops render for seconds. `within(seconds, fn, ...)` runs `fn` with a trace function that
watches only frames of compiled templates (their code is named `<template>`) and raises `TemplateTooSlow`
from inside the template once the budget is spent, so the render stops there. Frames of any other code get no
line tracing, so the rest of `fn` (the tokenizer, hone's own code) runs at full speed.

The trace function is per thread (`sys.settrace`); the one in place before (a coverage tool's) is restored.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from types import FrameType
from typing import Any, TypeVar

T = TypeVar("T")
TEMPLATE_CODE = "<template>"  # the file name Jinja gives the code it compiles from a template string
CHECK_EVERY = 64  # line events between two looks at the clock


class TemplateTooSlow(TimeoutError):
    """A template was still rendering when its time budget ran out."""


def within(seconds: float, fn: Callable[..., T], *args: Any) -> T:
    """`fn(*args)`, with every template it renders stopped after `seconds` in all (`TemplateTooSlow`)."""
    deadline = time.monotonic() + seconds
    events = 0

    def in_template(frame: FrameType, event: str, arg: Any) -> Any:
        nonlocal events
        events += 1
        if events % CHECK_EVERY == 0 and time.monotonic() > deadline:
            raise TemplateTooSlow(f"the template was still rendering after {seconds:g} s")
        return in_template

    def on_call(frame: FrameType, event: str, arg: Any) -> Any:
        return in_template if frame.f_code.co_filename == TEMPLATE_CODE else None

    before = sys.gettrace()
    sys.settrace(on_call)
    try:
        return fn(*args)
    finally:
        sys.settrace(before)
