"""HPO views through Optuna's own analysis, when the ``optuna`` extra is installed.

The Factory's trials (any generator, any storage) become an in-memory Optuna study: each parameter gets a
distribution inferred from the values it took (floats → ``FloatDistribution``, integers →
``IntDistribution``, log-scaled when positive and spanning two decades or more; anything else →
``CategoricalDistribution``), and each completed trial with a finite value of the metric is added with
``create_trial``. Optuna's importance evaluator (PED-ANOVA) and its slice plot then run on that study. Optuna is imported only when these functions run; :mod:`.hpo` falls back to its own pure
functions when it is missing or fails on the data.
"""

from __future__ import annotations

import importlib.util
import json
import math
import warnings
from typing import Any

_LOG_SPAN = 100.0  # max/min from which a positive parameter is drawn on a log axis


def available() -> bool:
    """Whether Optuna can be imported (the ``optuna`` extra)."""
    try:
        return importlib.util.find_spec("optuna") is not None
    except (ImportError, ValueError):
        return False


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _choice(v: Any) -> Any:
    """A value Optuna accepts as a categorical choice (None, bool, int, float, str); others as JSON."""
    return (
        v if v is None or isinstance(v, (bool, int, float, str)) else json.dumps(v, sort_keys=True)
    )


def infer_distributions(trials: list[dict[str, Any]]) -> dict[str, Any]:
    """Parameter name → the Optuna distribution its values fit (see the module's docstring)."""
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    values: dict[str, list[Any]] = {}
    for t in trials:
        for name, v in t["params"].items():
            values.setdefault(name, []).append(v)
    out: dict[str, Any] = {}
    for name, vs in values.items():
        if all(_number(v) for v in vs):
            low, high = min(vs), max(vs)
            log = low > 0 and high / low >= _LOG_SPAN
            if all(isinstance(v, int) for v in vs):
                out[name] = IntDistribution(int(low), int(high), log=log and low >= 1)
            else:
                out[name] = FloatDistribution(float(low), float(high), log=log)
        else:
            choices = list(dict.fromkeys(_choice(v) for v in vs))
            out[name] = CategoricalDistribution(
                sorted(choices, key=lambda c: (not _number(c), c if _number(c) else str(c)))
            )
    return out


def build_study(trials: list[dict[str, Any]], metric: str, direction: str = "maximize") -> Any:
    """An in-memory ``optuna.Study`` of the completed trials with a finite value of ``metric``."""
    import optuna

    if direction not in ("maximize", "minimize"):
        raise ValueError(f"direction must be 'maximize' or 'minimize', but got {direction!r}")
    done = [t for t in trials if t["status"] == "complete" and _number(t["metrics"].get(metric))]
    distributions = infer_distributions(done)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="maximize" if direction == "maximize" else "minimize", study_name=metric
    )
    for t in done:
        params = {
            k: (
                float(v)
                if isinstance(distributions[k], optuna.distributions.FloatDistribution)
                else v
            )
            for k, v in ((k, _choice(v)) for k, v in t["params"].items())
        }
        study.add_trial(
            optuna.trial.create_trial(
                params=params,
                distributions={k: distributions[k] for k in params},
                value=float(t["metrics"][metric]),
                user_attrs={"fireworks_trial": t["id"]},
            )
        )
    return study


def importances(study: Any) -> dict[str, float]:
    """Optuna's parameter importances (PED-ANOVA where this Optuna has it, else its default), summing to 1."""
    import optuna

    evaluator_cls = getattr(optuna.importance, "PedAnovaImportanceEvaluator", None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # experimental-feature and few-trials warnings
        return dict(
            optuna.importance.get_param_importances(
                study, evaluator=evaluator_cls() if evaluator_cls is not None else None
            )
        )


def figure(kind: str, study: Any) -> dict[str, Any]:
    """Optuna's ``plot_parallel_coordinate`` (``"parallel"``) or ``plot_slice`` (``"slice"``) as a Plotly dict."""
    import optuna.visualization as vis

    plot = {"parallel": vis.plot_parallel_coordinate, "slice": vis.plot_slice}[kind]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fig = plot(study, target_name=study.study_name)
    fig.update_layout(template="plotly_white")
    out: dict[str, Any] = fig.to_plotly_json()
    return out
