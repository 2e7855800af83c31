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


def sleep_span(seconds, value=None):
    """Sleep; return (value, start, end) in wall-clock time (comparable across processes)."""
    start = time.time()
    time.sleep(seconds)
    return value, start, time.time()


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


# -- functions for the parallel map (Message -> Message) --------------------------------------------


def double_x(m):
    from fireworks import Message

    out = Message(m)
    out["x"] = m["x"] * 2
    return out


def slow_double_x(m, seconds=0.02):
    time.sleep(seconds)
    return double_x(m)


def fail_on_13(m):
    if (m["x"] == 13).any():
        raise ValueError("found 13 in the batch")
    return double_x(m)


def die_on_13(m):
    if (m["x"] == 13).any():
        os._exit(7)
    return double_x(m)


def busy_python(m, rounds=20_000):
    """CPU-heavy pure-Python work (holds the GIL), then the batch doubled."""
    acc = 0
    for i in range(rounds):
        acc = (acc * 31 + i) % 1_000_003
    out = double_x(m)
    out["acc"] = [acc] * len(m)
    return out


def record_pid(m):
    from fireworks import Message

    return Message({"x": m["x"], "pid": [os.getpid()] * len(m)})


def double_y(m):
    from fireworks import Message

    out = Message(m)
    if "y" in m:
        out["y"] = m["y"] * 2
    return out
