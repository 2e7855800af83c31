"""HPO views through Optuna's own analysis, and the pure-function fallback without Optuna (no browser)."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import textwrap
from typing import Any

import pytest

from fireworks.dashboard import hpo, hpo_optuna


def dominated_search(n: int = 40, seed: int = 0) -> list[dict[str, Any]]:
    """A search where ``a`` sets the metric and the other parameters barely matter."""
    rng = random.Random(seed)
    trials = []
    for i in range(n):
        params = {
            "a": rng.uniform(0, 1),
            "lr": 10 ** rng.uniform(-4, -1),
            "kind": rng.choice(["x", "y", "z"]),
            "width": rng.choice([16, 32, 64]),
        }
        trials.append(
            {
                "id": i,
                "status": "complete",
                "params": params,
                "metrics": {"m": 10 * params["a"] + 0.1 * rng.random()},
                "reports": [],
                "duration": 1.0,
                "error": None,
            }
        )
    failed = {**trials[0], "id": n, "status": "failed", "metrics": {}}  # left out of the study
    trials.append(failed)
    return trials


def test_optuna_and_the_pure_functions_agree_on_what_matters() -> None:
    pytest.importorskip("optuna")
    trials = dominated_search()
    with_optuna = hpo.analysis(trials, "m", "maximize")
    pure = hpo.analysis(trials, "m", "maximize", use_optuna=False)
    assert with_optuna["engine"] == "optuna" and with_optuna["fallback"] is None
    assert pure["engine"] == "fireworks"
    for result in (with_optuna, pure):
        ranked = list(result["importances"])
        assert ranked[0] == "a", result["importances"]
        assert result["importances"]["a"] > 0.5
        assert sum(result["importances"].values()) == pytest.approx(1.0)
    assert "Optuna" in with_optuna["importance"]["layout"]["title"]["text"]
    # one slice panel per parameter either way; parallel coordinates are one brushable parcoords trace
    assert len(with_optuna["slices"]["data"]) == len(pure["slices"]["data"]) == 4
    assert [t["type"] for t in with_optuna["parallel"]["data"]] == ["parcoords"]


def test_the_study_gets_distributions_inferred_from_the_values() -> None:
    pytest.importorskip("optuna")
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    trials = dominated_search()
    trials[1]["params"]["shape"] = [3, 4]  # a JSON value becomes a categorical choice
    study = hpo_optuna.build_study(trials, "m", "maximize")
    assert len(study.trials) == 40  # the failed trial is not in it
    dist = study.trials[1].distributions
    assert isinstance(dist["a"], FloatDistribution) and not dist["a"].log
    assert isinstance(dist["lr"], FloatDistribution) and dist["lr"].log  # spans three decades
    assert isinstance(dist["width"], IntDistribution)
    assert isinstance(dist["kind"], CategoricalDistribution)
    assert dist["kind"].choices == ("x", "y", "z")
    assert study.trials[1].params["shape"] == "[3, 4]"
    assert study.best_trial.user_attrs["fireworks_trial"] == max(
        range(40), key=lambda i: trials[i]["metrics"]["m"]
    )
    with pytest.raises(ValueError, match="direction must be"):
        hpo_optuna.build_study(trials, "m", "up")


def test_without_optuna_the_views_come_from_the_pure_functions() -> None:
    """Optuna hidden from a fresh interpreter (as tests/packaging hides the extras)."""
    code = textwrap.dedent(
        """
        import importlib.abc, json, sys
        class _Hide(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.partition(".")[0] == "optuna":
                    raise ModuleNotFoundError(f"No module named {name!r}", name=name)
                return None
        sys.meta_path.insert(0, _Hide())
        from fireworks.dashboard import hpo, hpo_optuna
        trials = json.loads(sys.stdin.read())
        result = hpo.analysis(trials, "m", "maximize")
        print(json.dumps({"available": hpo_optuna.available(), "engine": result["engine"],
                          "importances": result["importances"], "optuna": "optuna" in sys.modules}))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        input=json.dumps(dominated_search()),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["available"] is False and out["optuna"] is False
    assert out["engine"] == "fireworks"
    assert next(iter(out["importances"])) == "a"
