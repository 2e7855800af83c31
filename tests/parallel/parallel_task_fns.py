"""Task functions for the executor tests; a module of their own so worker processes can import them."""

from __future__ import annotations

import os
import signal
import time

from fireworks.parallel import current_task


def add(a, b=0):
    return a + b


def sleep_then(seconds, value=None):
    time.sleep(seconds)
    return value


def boom(message):
    raise ValueError(message)


def hard_exit(code):
    os._exit(code)


def kill_self():
    os.kill(os.getpid(), signal.SIGKILL)


def pid():
    return os.getpid()


def talk(n):
    """Send n messages to the submitter, then wait (up to 5 s) for one signal and return it."""
    ctx = current_task()
    for i in range(n):
        ctx.send(i)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        got = ctx.receive()
        if got:
            return got
        time.sleep(0.01)
    return None


def unpicklable_result():
    return lambda: None
