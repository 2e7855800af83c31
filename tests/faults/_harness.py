"""Helpers of the fault-injection suite: run code in a forked child (killed with SIGKILL at a chosen point,
or guarded against crashes and hangs) and classify what a reader did with a damaged file."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

from fireworks import CorruptFileError

KILLED = -signal.SIGKILL


def _profiler(kill_at: int | None, counter: list[int]) -> Callable[..., None]:
    def profile(frame: Any, event: str, arg: Any) -> None:
        if event in ("call", "c_call"):
            counter[0] += 1
            if counter[0] == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)

    return profile


def in_child(
    fn: Callable[[], Any], kill_at: int | None = None, timeout: float = 120
) -> tuple[int, Any]:
    """Run ``fn`` in a forked child; return (exit status, what it returned (JSON) or its traceback).

    With ``kill_at``, the child counts every Python and C function call ``fn`` makes (``sys.setprofile``:
    every statement sent to a database, every ``write``, ``fsync`` and ``rename``, every line of Fireworks
    on the way there) and kills itself with SIGKILL at call number ``kill_at``; the status is then KILLED.
    Without it, the result is the number of calls ``fn`` made, under "calls" (for choosing kill points).
    A child that outlives ``timeout`` is killed and reported as a hang.
    """
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.close(read_end)
        status = 0
        try:
            counter = [0]
            sys.setprofile(_profiler(kill_at, counter))
            try:
                out = fn()
            finally:
                sys.setprofile(None)
            payload = json.dumps({"result": out, "calls": counter[0]}, default=str)
        except BaseException:
            payload = json.dumps({"error": traceback.format_exc()})
            status = 1
        with os.fdopen(write_end, "w") as pipe:
            pipe.write(payload)
        os._exit(status)
    os.close(write_end)
    chunks = []
    deadline = time.monotonic() + timeout
    with os.fdopen(read_end) as pipe:
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                chunks.append(pipe.read())
                break
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                raise AssertionError(f"the child hung for more than {timeout} s")
            time.sleep(0.002)
    code = os.waitstatus_to_exitcode(status)
    text = "".join(chunks)
    return code, (json.loads(text) if text else None)


def child_ok(fn: Callable[[], Any], timeout: float = 120) -> Any:
    """Run ``fn`` in a forked child (a fresh process as far as connections go) and return its result."""
    code, out = in_child(fn, timeout=timeout)
    assert code == 0, f"the child failed (exit {code}): {out and out.get('error')}"
    return out["result"]


def kill_points(total: int, k: int) -> list[int]:
    """``k`` call numbers spread evenly over 1..total (all of them when total <= k)."""
    if total <= k:
        return list(range(1, total + 1))
    step = total / k
    return sorted({max(1, min(total, int(step * (i + 0.5)))) for i in range(k)})


def classify(path: os.PathLike[str] | str, read: Callable[[], Any], accept: dict[str, Any]) -> str:
    """What reading a damaged copy at ``path`` did: "damaged" (CorruptFileError naming the file), a key of
    ``accept`` whose value equals what was read (e.g. "whole": every row, exact), or a description of the
    failure ("silent: ...", "wrong error: ...")."""
    try:
        got = read()
    except Exception as err:
        chain, e = [], err
        while e is not None:
            chain.append(e)
            e = e.__cause__ or e.__context__
        if any(isinstance(x, CorruptFileError) for x in chain) and (
            os.fspath(path) in str(err) and "damaged" in str(err)
        ):
            return "damaged"
        return f"wrong error: {type(err).__name__}: {str(err)[:300]}"
    for label, expected in accept.items():
        if _same(got, expected):
            return label
    return f"silent: read {got!r:.200}"


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    try:
        import torch

        if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
            return bool(torch.equal(torch.as_tensor(a), torch.as_tensor(b)))
    except ImportError:  # pragma: no cover
        pass
    out = a == b
    return bool(out) if not hasattr(out, "all") else bool(out.all())
