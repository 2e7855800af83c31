"""The loop a worker process runs: receive a task, run it, send back the result. Imports only the stdlib."""

from __future__ import annotations

import pickle
import signal
import traceback
from multiprocessing.connection import Connection
from typing import Any

from fireworks.parallel.base import TaskContext, run_in_context


def _pack_error(err: BaseException) -> tuple[bytes | None, str, str, str]:
    tb = "".join(traceback.format_exception(type(err), err, err.__traceback__))
    try:
        blob: bytes | None = pickle.dumps(err)
        pickle.loads(pickle.dumps(err))  # some exceptions pickle but cannot be rebuilt
    except Exception:
        blob = None
    return blob, type(err).__qualname__, str(err), tb


def worker_main(conn: Connection) -> None:
    """Serve tasks from ``conn`` until told to stop (``None``) or the parent goes away."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        if msg[0] != "task":
            continue  # a signal that arrived after its task finished
        _, task_id, payload = msg
        inbox: list[Any] = []

        def send(obj: Any, task_id: int = task_id) -> None:
            conn.send(("msg", task_id, obj))

        def receive(task_id: int = task_id, inbox: list[Any] = inbox) -> list[Any]:
            while conn.poll():
                m = conn.recv()
                if m is not None and m[0] == "signal" and m[1] == task_id:
                    inbox.append(m[2])
            items = inbox[:]
            inbox.clear()
            return items

        try:
            fn, args, kwargs = pickle.loads(payload)
            result = run_in_context(TaskContext(send, receive), fn, args, kwargs)
        except BaseException as err:
            reply: tuple = ("done", task_id, False, _pack_error(err))
        else:
            reply = ("done", task_id, True, result)
        try:
            conn.send(reply)
        except Exception as err:  # the result could not be pickled
            conn.send(
                (
                    "done",
                    task_id,
                    False,
                    _pack_error(
                        TypeError(
                            f"the task's result could not be sent back to the parent process "
                            f"({type(err).__name__}: {err}); return picklable values only"
                        )
                    ),
                )
            )
