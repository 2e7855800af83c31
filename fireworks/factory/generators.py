"""Generators propose the next params from the history: grid, seeded random, and Optuna's samplers."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from typing import Any

import numpy as np

from fireworks._imports import optional_import
from fireworks.factory.space import (
    Choice,
    Distribution,
    IntUniform,
    LogUniform,
    Uniform,
    parse_space,
)
from fireworks.factory.trial import Trial


def _key(params: dict[str, Any]) -> str:
    return json.dumps(params, sort_keys=True, default=str)


class GridGenerator:
    """Every combination of ``space`` (name → list of values) once, in order; ``None`` when all are taken.

    Points already in the history (running, complete or failed) are skipped, so a resumed or parallel search
    never repeats one; ``retry_failed=True`` proposes failed points again.

    >>> gen = GridGenerator({"lr": [0.1, 0.01], "depth": [2]})
    >>> gen([]), gen([Trial(0, {"lr": 0.1, "depth": 2})])
    ({'lr': 0.1, 'depth': 2}, {'lr': 0.01, 'depth': 2})
    """

    def __init__(self, space: dict[str, list[Any]], retry_failed: bool = False) -> None:
        if not isinstance(space, dict) or not space:
            raise TypeError(
                f"space must be a non-empty dict of name -> list of values, but got {space!r}"
            )
        for name, values in space.items():
            if not isinstance(values, (list, tuple)) or len(values) == 0:
                raise TypeError(
                    f"grid values for {name!r} must be a non-empty list, but got {values!r}"
                )
        self.space = {str(k): list(v) for k, v in space.items()}
        self.retry_failed = retry_failed

    def __len__(self) -> int:
        return int(np.prod([len(v) for v in self.space.values()]))

    def __call__(self, history: list[Trial]) -> dict[str, Any] | None:
        taken = {
            _key(t.params) for t in history if not (self.retry_failed and t.status == "failed")
        }
        names = list(self.space)
        for combo in itertools.product(*self.space.values()):
            params = dict(zip(names, combo))
            if _key(params) not in taken:
                return params
        return None

    def state_dict(self) -> dict[str, Any]:
        return {"space": self.space, "retry_failed": self.retry_failed}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.space = {k: list(v) for k, v in state["space"].items()}
        self.retry_failed = bool(state["retry_failed"])


class RandomGenerator:
    """Independent random draws from ``space``: lists choose, ``(low, high)`` tuples and distributions sample.

    Reproducible with ``seed``, also across resume: the n-th trial's params depend only on ``seed`` and n
    (the number of trials in the history), not on this object's past.

    >>> from fireworks.factory import LogUniform
    >>> gen = RandomGenerator({"lr": LogUniform(1e-4, 1e-1), "layers": (1, 4), "act": ["relu", "tanh"]}, seed=0)
    >>> gen([]) == RandomGenerator(gen.space, seed=0)([])
    True
    """

    def __init__(
        self,
        space: dict[str, Any],
        seed: int | None = None,
        max_trials: int | None = None,
    ) -> None:
        self.space = parse_space(space)
        if seed is None:
            seed = int(np.random.SeedSequence().entropy % (2**63))  # type: ignore[operator]
        self.seed = int(seed)
        self.max_trials = max_trials

    def __call__(self, history: list[Trial]) -> dict[str, Any] | None:
        n = len(history)
        if self.max_trials is not None and n >= self.max_trials:
            return None
        rng = np.random.default_rng([self.seed, n])
        return {name: dist.sample(rng) for name, dist in self.space.items()}

    def state_dict(self) -> dict[str, Any]:
        return {"seed": self.seed, "max_trials": self.max_trials}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.seed = int(state["seed"])
        self.max_trials = state["max_trials"]


def _to_optuna(optuna: Any, dist: Distribution) -> Any:
    d = optuna.distributions
    if isinstance(dist, LogUniform):
        return d.FloatDistribution(dist.low, dist.high, log=True)
    if isinstance(dist, Uniform):
        return d.FloatDistribution(dist.low, dist.high)
    if isinstance(dist, IntUniform):
        return d.IntDistribution(dist.low, dist.high)
    if isinstance(dist, Choice):
        return d.CategoricalDistribution(list(dist.values))
    raise TypeError(f"no Optuna distribution for {dist!r}")


class OptunaGenerator:
    """Optuna's samplers (TPE, CMA-ES, GP, …) as a generator, through Optuna's ask/tell interface.

    Declare the space with ``space=`` (the same entries as :class:`RandomGenerator`) or ``define=`` (a
    function ``define(optuna_trial)`` calling ``trial.suggest_*``). Each call first tells Optuna about trials
    that finished since the last call (complete → their ``metric``; failed → FAIL; pruned → PRUNED), then asks
    for new params; running trials stay open in Optuna, so several can run at once. Trials in the history that
    this object did not propose (a resumed search) are added to the study as finished trials.
    With ``pruner=`` (an Optuna pruner), reports of ``metric`` decide whether to stop a trial early.

    >>> import optuna  # doctest: +SKIP
    >>> gen = OptunaGenerator("loss", "minimize", optuna.samplers.TPESampler(seed=0), space={"x": (-5.0, 5.0)})
    """

    def __init__(
        self,
        metric: str,
        direction: str = "maximize",
        sampler: Any = None,
        *,
        space: dict[str, Any] | None = None,
        define: Callable[[Any], Any] | None = None,
        pruner: Any = None,
        max_trials: int | None = None,
    ) -> None:
        self._optuna = optuna = optional_import("optuna", "optuna", "OptunaGenerator")
        if direction not in ("maximize", "minimize"):
            raise ValueError(f"direction must be 'maximize' or 'minimize', but got {direction!r}")
        if (space is None) == (define is None):
            raise ValueError(
                "OptunaGenerator needs exactly one of space= (a dict) or define= (a function)"
            )
        self.metric = metric
        self.direction = direction
        self.space = parse_space(space) if space is not None else None
        self.define = define
        self.max_trials = max_trials
        self._distributions = (
            {k: _to_optuna(optuna, v) for k, v in self.space.items()} if self.space else None
        )
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.study = optuna.create_study(direction=direction, sampler=sampler, pruner=pruner)
        self._pending: list[tuple[str, Any]] = []  # (params key, optuna trial) asked, not yet seen
        self._open: dict[int, Any] = {}  # fireworks id -> optuna trial still running
        self._known: set[int] = set()  # fireworks ids already accounted for
        self._reported: dict[int, int] = {}  # fireworks id -> reports forwarded

    def _tell(self, trial: Trial, otrial: Any) -> None:
        state = self._optuna.trial.TrialState
        if trial.status == "complete" and self.metric in trial.metrics:
            self.study.tell(otrial, trial.metrics[self.metric])
        elif trial.status == "pruned":
            self._forward_reports(trial, otrial)
            self.study.tell(otrial, state=state.PRUNED)
        else:
            self.study.tell(otrial, state=state.FAIL)

    def _add_foreign(self, trial: Trial) -> None:
        optuna = self._optuna
        state = optuna.trial.TrialState
        dists = self._distributions
        if dists is None or set(trial.params) != set(dists):
            return  # cannot describe its space to Optuna: leave it out
        try:
            for name, value in trial.params.items():
                dists[name]._contains(dists[name].to_internal_repr(value))
        except Exception:
            return
        ok = trial.status == "complete" and self.metric in trial.metrics
        self.study.add_trial(
            optuna.trial.create_trial(
                params=trial.params,
                distributions=dists,
                value=trial.metrics[self.metric] if ok else None,
                state=state.COMPLETE if ok else state.FAIL,
            )
        )

    def _sync(self, history: list[Trial]) -> None:
        for trial in history:
            if trial.id in self._known:
                continue
            key = _key(trial.params)
            match = next((i for i, (k, _) in enumerate(self._pending) if k == key), None)
            if match is not None:
                self._open[trial.id] = self._pending.pop(match)[1]
                self._known.add(trial.id)
            elif trial.status != "running":
                self._add_foreign(trial)
                self._known.add(trial.id)
        for trial in history:
            otrial = self._open.get(trial.id)
            if otrial is not None and trial.status != "running":
                self._tell(trial, otrial)
                del self._open[trial.id]

    def __call__(self, history: list[Trial]) -> dict[str, Any] | None:
        self._sync(history)
        if self.max_trials is not None and len(history) >= self.max_trials:
            return None
        if self._distributions is not None:
            otrial = self.study.ask(self._distributions)
        else:
            otrial = self.study.ask()
            self.define(otrial)  # type: ignore[misc]
        params = dict(otrial.params)
        self._pending.append((_key(params), otrial))
        return params

    def _forward_reports(self, trial: Trial, otrial: Any) -> None:
        done = self._reported.get(trial.id, 0)
        for step, metrics in trial.reports[done:]:
            if self.metric in metrics:
                otrial.report(metrics[self.metric], step)
        self._reported[trial.id] = len(trial.reports)

    def should_prune(self, trial: Trial, history: list[Trial]) -> bool:
        """The Optuna pruner's verdict on a running trial, from its reports of ``metric``."""
        self._sync(history)
        otrial = self._open.get(trial.id)
        if otrial is None:
            return False
        self._forward_reports(trial, otrial)
        return bool(otrial.should_prune())

    def state_dict(self) -> dict[str, Any]:
        """Settings only: the Optuna study is rebuilt from the Factory's history on resume."""
        return {"metric": self.metric, "direction": self.direction, "max_trials": self.max_trials}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.max_trials = state.get("max_trials")
