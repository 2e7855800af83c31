"""Grid, random and Optuna generators; Optuna's TPE must beat random search on a known function."""

from __future__ import annotations

import pytest
from factory_trial_fns import identity, quadratic_loss

from fireworks import Factory, GridGenerator, OptunaGenerator, RandomGenerator
from fireworks.factory import Choice, IntUniform, LogUniform, Trial, Uniform

optuna = pytest.importorskip("optuna")


def test_grid_yields_each_combination_once_skipping_history() -> None:
    gen = GridGenerator({"a": [1, 2], "b": ["x", "y"]})
    assert len(gen) == 4
    history: list[Trial] = []
    while (params := gen(history)) is not None:
        history.append(
            Trial(len(history), params, status="failed" if params["a"] == 1 else "complete")
        )
    assert [t.params for t in history] == [
        {"a": 1, "b": "x"},
        {"a": 1, "b": "y"},
        {"a": 2, "b": "x"},
        {"a": 2, "b": "y"},
    ]
    assert GridGenerator(gen.space, retry_failed=True)(history) == {"a": 1, "b": "x"}
    with pytest.raises(TypeError, match="grid values for 'a' must be a non-empty list"):
        GridGenerator({"a": []})


def test_random_is_seeded_and_samples_the_space() -> None:
    space = {
        "lr": LogUniform(1e-4, 1e-1),
        "n": IntUniform(1, 3),
        "act": ["relu", "tanh"],
        "p": (0.0, 0.5),
    }
    gen = RandomGenerator(space, seed=3)
    history = [Trial(i, gen([Trial(j, {}) for j in range(i)])) for i in range(200)]
    again = RandomGenerator(space, seed=3)
    assert [again([Trial(j, {}) for j in range(i)]) for i in range(200)] == [
        t.params for t in history
    ]
    lrs = [t.params["lr"] for t in history]
    assert 1e-4 <= min(lrs) < 1e-3 and 1e-2 < max(lrs) <= 1e-1
    assert {t.params["n"] for t in history} == {1, 2, 3}
    assert {t.params["act"] for t in history} == {"relu", "tanh"}
    assert all(isinstance(t.params["p"], float) and 0 <= t.params["p"] <= 0.5 for t in history)
    assert RandomGenerator(space, seed=4)([]) != gen([])
    assert RandomGenerator(space, seed=1, max_trials=2)([Trial(0, {}), Trial(1, {})]) is None


def test_space_errors_name_the_entry() -> None:
    with pytest.raises(TypeError, match=r"space entry 'lr' must be a list .* but got 'fast'"):
        RandomGenerator({"lr": "fast"})
    with pytest.raises(ValueError, match="LogUniform needs low > 0, but got low=0"):
        LogUniform(0, 1)
    with pytest.raises(ValueError, match="Uniform needs low < high, but got low=2, high=1"):
        Uniform(2, 1)
    with pytest.raises(ValueError, match="Choice needs at least one value"):
        Choice(())


def _best_loss(generator, n: int = 30) -> float:
    factory = Factory(
        identity, quadratic_loss, generator, metric="loss", direction="minimize", progress=False
    )
    history = factory.run(max_trials=n)
    assert len(history) == n and all(t.status == "complete" for t in history)
    return factory.best_trial.metrics["loss"]


def test_optuna_tpe_beats_random_search_on_a_known_function() -> None:
    space = {"x": (-10.0, 10.0), "y": (-10.0, 10.0)}
    tpe = OptunaGenerator(
        "loss", "minimize", optuna.samplers.TPESampler(seed=1, n_startup_trials=8), space=space
    )
    tpe_best = _best_loss(tpe)
    random_best = _best_loss(RandomGenerator(space, seed=1))
    assert tpe_best < random_best, (tpe_best, random_best)
    assert tpe_best < 1.0
    states = [t.state.name for t in tpe.study.trials]
    assert states == ["COMPLETE"] * 29 + ["RUNNING"] or states == ["COMPLETE"] * 30


def test_optuna_with_parallel_trials_failures_and_resume(sqlite_url) -> None:
    def make():
        return OptunaGenerator(
            "loss", "minimize", optuna.samplers.TPESampler(seed=0), define=_define
        )

    gen = make()
    factory = Factory(
        identity,
        quadratic_loss,
        gen,
        storage=sqlite_url,
        workers=3,
        executor="thread",
        progress=False,
    )
    factory.run(max_trials=9)
    told = [t for t in gen.study.trials if t.state.name == "COMPLETE"]
    assert len(told) >= 6  # every finished trial was told, while others ran
    factory.close()
    # a resumed search feeds the old trials to a new study (space= is needed to describe them)
    gen2 = OptunaGenerator(
        "loss",
        "minimize",
        optuna.samplers.TPESampler(seed=0),
        space={"x": (-10.0, 10.0), "y": (-10.0, 10.0)},
    )
    resumed = Factory(
        identity, quadratic_loss, gen2, storage=sqlite_url, executor="inline", progress=False
    )
    assert len(resumed.run(max_trials=1)) == 10
    assert sum(t.state.name == "COMPLETE" for t in gen2.study.trials) >= 9


def _define(trial):
    trial.suggest_float("x", -10.0, 10.0)
    trial.suggest_float("y", -10.0, 10.0)


def test_optuna_arguments() -> None:
    with pytest.raises(ValueError, match=r"exactly one of space= .* or define="):
        OptunaGenerator("loss")
