"""Run a test's coroutine on an event loop of its own, in a thread of its own.

Playwright's sync API (the browser tests) keeps an event loop running in the test worker's
main thread for the rest of the session, and `asyncio.run` refuses to start inside a running
loop; so a test that ran after a browser test in the same worker failed for no fault of its
own. A fresh thread has no loop, whatever ran before.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run_in_own_loop(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run `coroutine` to completion with `asyncio.run` in a new thread; return or raise as it does."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = asyncio.run(coroutine)
        except BaseException as exc:  # handed back to the test's thread, whatever it is
            outcome["error"] = exc

    thread = threading.Thread(target=target, name="test-event-loop")
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    value: T = outcome["value"]
    return value
