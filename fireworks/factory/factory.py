"""The Factory: a hyperparameter search whose trials run as independent processes, several at once."""

from __future__ import annotations

import json
import os
import queue
import time
import traceback
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from fireworks.factory.events import EventRegistry, Events
from fireworks.factory.progress import SearchProgress
from fireworks.factory.storage import TrialStorage, _host
from fireworks.factory.trial import Trial, run_trial
from fireworks.parallel import Executor, TaskError, get_executor
from fireworks.parallel.process import _check_picklable

_LIVE_OWNERS: set[str] = set()

Pruner = Callable[[Trial, list[Trial]], bool]


def format_error(err: BaseException) -> str:
    """``"Type: message"`` and, for errors raised by user code, the (worker's) traceback."""
    head = f"{type(err).__name__}: {err}"
    if isinstance(err, TaskError):
        return head
    tb = getattr(err, "remote_traceback", None) or "".join(
        traceback.format_exception(type(err), err, err.__traceback__)
    )
    return f"{head}\n\n{tb}"


def _post(events: queue.Queue, item: tuple, *_: Any) -> None:
    events.put(item)


class Factory(EventRegistry):
    """Hyperparameter search: ``generator`` proposes params, ``trainer`` + ``evaluator`` score them.

    Each trial runs ``metrics = evaluator(trainer(params), params)`` in a worker process (``workers`` at a
    time; workers are reused, each runs trials one after another); the parent process owns the storage and
    records every trial: ``"complete"`` with its metrics, ``"failed"`` with the error (an exception, a
    ``timeout``, a crashed process) — and the search goes on. ``generator(history)`` sees every trial so far,
    running ones included, and returns the next params or ``None`` to stop.

    Storage is a SQLAlchemy URL (default: in memory); a new Factory on the same storage and ``study`` continues
    the old history. Trials left ``"running"`` by a search process that died are marked ``"failed"``
    (``"interrupted: ..."``) when the next Factory opens the study; they are not re-run automatically
    (``GridGenerator(space, retry_failed=True)`` proposes failed points again).

    With the default process executor, ``trainer`` and ``evaluator`` must be importable functions (top level
    of a module, not a lambda or a function typed into an interactive session); ``executor="thread"`` or
    ``"inline"`` lift that at the cost of isolation.

    >>> from fireworks.factory import GridGenerator
    >>> def train(params): return params["x"]
    >>> def evaluate(model, params): return {"score": -(model - 2) ** 2}
    >>> factory = Factory(train, evaluate, GridGenerator({"x": [1, 2, 3]}), executor="inline", progress=False)
    >>> [t.metrics["score"] for t in factory.run()]
    [-1.0, -0.0, -1.0]
    >>> factory.best_trial.params
    {'x': 2}
    """

    def __init__(
        self,
        trainer: Callable[[dict[str, Any]], Any],
        evaluator: Callable[[Any, dict[str, Any]], Mapping[str, float]],
        generator: Callable[[list[Trial]], dict[str, Any] | None],
        *,
        storage: str | sa.Engine | None = None,
        workers: int = 1,
        study: str = "default",
        executor: str | Executor = "process",
        timeout: float | None = None,
        metric: str | None = None,
        direction: str = "maximize",
        pruner: Pruner | None = None,
        experiment: Any = None,
        progress: bool = True,
    ) -> None:
        super().__init__()
        for name, fn in (("trainer", trainer), ("evaluator", evaluator), ("generator", generator)):
            if not callable(fn):
                raise TypeError(f"{name} must be callable, but got {fn!r}")
        if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
            raise ValueError(f"workers must be an int >= 1, but got {workers!r}")
        if direction not in ("maximize", "minimize"):
            raise ValueError(f"direction must be 'maximize' or 'minimize', but got {direction!r}")
        if timeout is not None and not (isinstance(timeout, (int, float)) and timeout > 0):
            raise ValueError(
                f"timeout must be a positive number of seconds or None, but got {timeout!r}"
            )
        self.trainer = trainer
        self.evaluator = evaluator
        self.generator = generator
        self.workers = workers
        self.executor = executor
        self.timeout = timeout
        self.metric = metric if metric is not None else getattr(generator, "metric", None)
        self.direction = (
            direction if metric is not None else getattr(generator, "direction", direction)
        )
        self.pruner = pruner if pruner is not None else getattr(generator, "should_prune", None)
        self.progress = progress
        self.trials_path: Path | None = None
        if experiment is not None:
            root = Path(getattr(experiment, "path", experiment))
            self.trials_path = root / "trials"
            if storage is None:
                storage = f"sqlite:///{root / 'factory.sqlite'}"
        self._storage = TrialStorage(storage, study)
        self.study = study
        self._owner = f"{_host()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
        _LIVE_OWNERS.add(self._owner)
        self._storage.fail_orphans(_LIVE_OWNERS)
        self._trials: dict[int, Trial] = {t.id: t for t in self._storage.load()}

    # -- history ---------------------------------------------------------------------------------
    def history(self) -> list[Trial]:
        """Every trial of the study so far, ordered by id (copies: changing them changes nothing)."""
        return [
            replace(t, params=dict(t.params), metrics=dict(t.metrics), reports=list(t.reports))
            for _, t in sorted(self._trials.items())
        ]

    def reload(self) -> list[Trial]:
        """Re-read the history from storage (to see trials written by searches on other machines)."""
        self._trials = {t.id: t for t in self._storage.load()}
        return self.history()

    def history_message(self) -> Any:
        """The history as a :class:`~fireworks.Message`: ``id``, ``status``, ``error``, ``duration``,
        ``params.<name>`` and ``metrics.<name>`` columns (missing values are ``None``/NaN)."""
        from fireworks.message import Message

        trials = self.history()
        columns: dict[str, list[Any]] = {
            "id": [t.id for t in trials],
            "status": [t.status for t in trials],
            "error": [t.error for t in trials],
            "duration": [t.duration if t.duration is not None else float("nan") for t in trials],
        }
        param_names = list(dict.fromkeys(k for t in trials for k in t.params))
        metric_names = list(dict.fromkeys(k for t in trials for k in t.metrics))
        for k in param_names:
            columns[f"params.{k}"] = [t.params.get(k) for t in trials]
        for k in metric_names:
            columns[f"metrics.{k}"] = [t.metrics.get(k, float("nan")) for t in trials]
        return Message(columns)

    @property
    def best_trial(self) -> Trial | None:
        """The complete trial with the best ``metric`` (``None`` if no metric is set or none completed)."""
        if self.metric is None:
            return None
        done = [t for t in self.history() if t.status == "complete" and self.metric in t.metrics]
        if not done:
            return None
        sign = 1.0 if self.direction == "maximize" else -1.0
        return max(done, key=lambda t: sign * t.metrics[self.metric])  # type: ignore[index]

    # -- running ---------------------------------------------------------------------------------
    def run(self, max_trials: int | None = None) -> list[Trial]:
        """Run trials until the generator returns ``None`` or ``max_trials`` were started by this call.

        Returns :meth:`history`. Ctrl-C (``KeyboardInterrupt``) kills the running trials, records them as
        failed (``"interrupted"``) and re-raises; storage stays consistent.
        """
        if max_trials is not None and (
            not isinstance(max_trials, int) or isinstance(max_trials, bool) or max_trials < 0
        ):
            raise ValueError(f"max_trials must be an int >= 0 or None, but got {max_trials!r}")
        executor = get_executor(self.executor, self.workers)
        owns_executor = executor is not self.executor
        if executor.name == "process":
            _check_picklable(self.trainer, (), {})
            _check_picklable(self.evaluator, (), {})
        events: queue.Queue = queue.Queue()
        running: dict[int, Future] = {}
        bar = SearchProgress(max_trials, self.progress, self.metric)
        started, exhausted = 0, False
        try:
            self.fire(Events.SEARCH_STARTED)
            while True:
                while (
                    not exhausted
                    and len(running) < self.workers
                    and (max_trials is None or started < max_trials)
                ):
                    params = self.generator(self.history())
                    if params is None:
                        exhausted = True
                        break
                    self._start(self._check_params(params), executor, events, running)
                    started += 1
                    self._drain(events, running, executor, bar, block=False)
                if not running:
                    break
                self._drain(events, running, executor, bar, block=True)
        except BaseException as err:
            self._abort(err, events, running, executor, bar)
            raise
        finally:
            if owns_executor:
                executor.shutdown(wait=True, kill=True)
            bar.close()
        self.fire(Events.SEARCH_FINISHED)
        return self.history()

    def _check_params(self, params: Any) -> dict[str, Any]:
        if not isinstance(params, dict):
            raise TypeError(f"generator must return a dict of params or None, but got {params!r}")
        try:
            json.dumps(params, allow_nan=True)
        except (TypeError, ValueError) as err:
            raise TypeError(
                f"params must be JSON-serialisable (str keys; numbers, strings, bools, lists, dicts) to be "
                f"stored, but got {params!r} ({err}); convert numpy scalars with float()/int()"
            ) from err
        return params

    def _start(
        self, params: dict[str, Any], executor: Executor, events: queue.Queue, running: dict
    ) -> None:
        trial = self._storage.create(params, self._owner)
        self._trials[trial.id] = trial
        self.fire(Events.TRIAL_STARTED, replace(trial))
        path = str(self.trials_path / f"trial_{trial.id}") if self.trials_path else None
        future = executor.submit(
            run_trial,
            self.trainer,
            self.evaluator,
            params,
            trial.id,
            path,
            timeout=self.timeout,
            on_message=partial(self._on_message, events, trial.id),
        )
        running[trial.id] = future
        future.add_done_callback(partial(_post, events, ("done", trial.id)))

    @staticmethod
    def _on_message(events: queue.Queue, trial_id: int, msg: Any) -> None:
        if isinstance(msg, tuple) and len(msg) == 3 and msg[0] == "report":
            events.put(("report", trial_id, msg[1], msg[2]))

    def _drain(
        self,
        events: queue.Queue,
        running: dict,
        executor: Executor,
        bar: SearchProgress,
        block: bool,
    ) -> None:
        try:
            item = events.get(timeout=1.0) if block else events.get_nowait()
        except queue.Empty:
            return
        while True:
            self._handle(item, running, executor, bar)
            try:
                item = events.get_nowait()
            except queue.Empty:
                return

    def _handle(
        self, item: tuple, running: dict, executor: Executor, bar: SearchProgress, fire: bool = True
    ) -> None:
        kind, trial_id = item[0], item[1]
        trial = self._trials[trial_id]
        if kind == "report":
            if trial.status != "running":
                return
            step, metrics = item[2], item[3]
            trial.reports.append((step, metrics))
            self._storage.add_report(trial_id, step, metrics)
            if fire:
                self.fire(Events.TRIAL_REPORTED, replace(trial), step, dict(metrics))
                if (
                    self.pruner is not None
                    and trial_id in running
                    and self.pruner(replace(trial, reports=list(trial.reports)), self.history())
                ):
                    executor.signal(running[trial_id], "prune")
            return
        future = running.pop(trial_id, None)
        if future is None or trial.status != "running":
            return
        err = future.exception()
        if err is None:
            result = future.result()
            trial.status, trial.metrics = result["status"], result["metrics"]
            trial.worker = result["worker"]
        else:
            trial.status, trial.metrics, trial.error = "failed", {}, format_error(err)
        trial.finished_at = time.time()
        self._storage.finish(trial)
        best = self.best_trial
        counts: dict[str, int] = {}
        for t in self._trials.values():
            counts[t.status] = counts.get(t.status, 0) + 1
        bar.update(1, counts, best.metrics[self.metric] if best and self.metric else None)
        if fire:
            event = {
                "complete": Events.TRIAL_COMPLETED,
                "failed": Events.TRIAL_FAILED,
                "pruned": Events.TRIAL_PRUNED,
            }[trial.status]
            self.fire(event, replace(trial))

    def _abort(
        self,
        err: BaseException,
        events: queue.Queue,
        running: dict,
        executor: Executor,
        bar: SearchProgress,
    ) -> None:
        """Stop the running trials and record them (failed, ``interrupted``) before ``err`` propagates."""
        if isinstance(err, KeyboardInterrupt):
            reason = "interrupted (KeyboardInterrupt)"
        else:
            reason = f"interrupted: the search stopped on {type(err).__name__}: {err}"
        for future in list(running.values()):
            executor.kill(future, reason)
        deadline = time.monotonic() + 5.0
        while running and time.monotonic() < deadline:
            try:
                item = events.get(timeout=0.1)
            except queue.Empty:
                continue
            try:
                self._handle(item, running, executor, bar, fire=False)
            except Exception:  # storage trouble while stopping: the orphan check fixes it next time
                break

    def close(self) -> None:
        """Release the storage connection (a closed Factory can no longer run)."""
        _LIVE_OWNERS.discard(self._owner)
        self._storage.close()

    def __enter__(self) -> Factory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- checkpoints -----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The search as JSON-compatible data: settings, the generator's state and every trial."""
        gen_state = getattr(self.generator, "state_dict", None)
        return {
            "study": self.study,
            "workers": self.workers,
            "timeout": self.timeout,
            "metric": self.metric,
            "direction": self.direction,
            "generator": gen_state() if callable(gen_state) else {},
            "trials": [t.to_dict() for t in self.history()],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore settings and the generator's state; into an empty study, also write the trials.

        A study that already has trials keeps them (storage is the source of truth) unless they disagree
        with the checkpoint, which raises a ``ValueError``.
        """
        self.workers = int(state["workers"])
        self.timeout = state["timeout"]
        self.metric = state["metric"]
        self.direction = state["direction"]
        loader = getattr(self.generator, "load_state_dict", None)
        if callable(loader) and state.get("generator"):
            loader(state["generator"])
        saved = [
            Trial(**{**t, "reports": [tuple(r) for r in t["reports"]]}) for t in state["trials"]
        ]
        if not self._trials:
            self._storage.restore(saved)
            self._trials = {t.id: t for t in self._storage.load()}
            return
        mine = {t.id: t.params for t in self._trials.values()}
        clash = [t.id for t in saved if t.id in mine and mine[t.id] != t.params]
        if clash:
            raise ValueError(
                f"checkpoint trials {clash[:5]} have other params than study {self.study!r} in storage; "
                "load it into a Factory with a new study name"
            )
