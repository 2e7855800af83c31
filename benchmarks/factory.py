"""Factory overhead and parallel speedup, beside Optuna's ``study.optimize`` in the same run.

1. Per-trial overhead of an empty trial (train and evaluate do nothing): the marginal cost of one more trial
   in a search with SQLite-file storage (target <= 20 ms), beside Optuna's ``study.optimize`` on the same kind
   of SQLite storage; and both with in-memory storage. The marginal cost is (time for N trials - time for n
   trials) / (N - n), so starting the worker process once is not spread over the trials; the amortised cost
   including that start is printed in the note.
2. Speedup of ``workers=2`` over ``workers=1`` on CPU-bound trials (target >= 1.7x, so workers=2 may take
   at most 1/1.7 = 0.59 of the time of workers=1). Only meaningful with 2 idle cores.

    python benchmarks/factory.py [--quick]
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from _common import Row, parse_args, report

from fireworks.factory import Factory
from fireworks.parallel import ProcessExecutor


def nothing(params):
    return None


def no_metrics(model, params):
    return {"value": 0.0}


def burn(params):
    """CPU-bound pure Python work: ``params['n']`` loop iterations."""
    total = 0
    for i in range(params["n"]):
        total += i * i % 7
    return total


class Counter:
    """The cheapest generator: {"i": 0}, {"i": 1}, ... (keeps the measurement about the Factory)."""

    def __init__(self, extra: dict | None = None) -> None:
        self.extra = extra or {}

    def __call__(self, history):
        return {"i": len(history), **self.extra}


def factory_time(storage: str | None, trials: int) -> tuple[float, float]:
    """(seconds per trial with a warm worker, seconds per trial including starting the worker)."""
    with ProcessExecutor(1) as executor:
        factory = Factory(
            nothing, no_metrics, Counter(), storage=storage, executor=executor, progress=False
        )
        start = time.perf_counter()
        factory.run(max_trials=1)  # starts the worker process
        first = time.perf_counter() - start
        start = time.perf_counter()
        factory.run(max_trials=trials)
        warm = (time.perf_counter() - start) / trials
        factory.close()
    return warm, (first + warm * trials) / (trials + 1)


def optuna_time(storage: str | None, trials: int) -> float:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(storage=storage, sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(objective, n_trials=1)
    start = time.perf_counter()
    study.optimize(objective, n_trials=trials)
    return (time.perf_counter() - start) / trials


def objective(trial) -> float:
    return trial.suggest_float("x", 0, 1) * 0.0


def speedup_time(executor: ProcessExecutor, trials: int, n: int) -> float:
    factory = Factory(
        burn,
        no_metrics,
        Counter({"n": n}),
        workers=executor.max_workers,
        executor=executor,
        progress=False,
    )
    factory.run(max_trials=executor.max_workers)  # workers started before timing
    start = time.perf_counter()
    history = factory.run(max_trials=trials)
    elapsed = time.perf_counter() - start
    assert all(t.status == "complete" for t in history)
    return elapsed


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    trials = 20 if args.quick else 300
    tmp = Path(tempfile.mkdtemp(prefix="fireworks-bench-"))
    fw_file, fw_file_cold = factory_time(f"sqlite:///{tmp / 'fireworks.sqlite'}", trials)
    op_file = optuna_time(f"sqlite:///{tmp / 'optuna.sqlite'}", trials)
    fw_mem, fw_mem_cold = factory_time(None, trials)
    op_mem = optuna_time(None, trials)
    rows = [
        Row(
            "empty trial, SQLite file",
            fw_file,
            "optuna study.optimize, SQLite file",
            op_file,
            max_seconds=0.020,
            note=f"{trials} trials; incl. starting the worker {fw_file_cold * 1e3:.1f} ms",
        ),
        Row(
            "empty trial, in memory",
            fw_mem,
            "optuna study.optimize, in memory",
            op_mem,
            max_seconds=0.020,
            note=f"incl. starting the worker {fw_mem_cold * 1e3:.1f} ms",
        ),
    ]
    ok = report(
        "Factory per-trial overhead (each Factory trial runs in a worker process; Optuna's in-process)",
        rows,
    )

    trials, n = (4, 1_000_000) if args.quick else (8, 4_000_000)
    with ProcessExecutor(1) as ex1, ProcessExecutor(2) as ex2:
        ones, twos = [], []
        for _ in range(1 if args.quick else 3):  # interleaved, so both see the same background load
            ones.append(speedup_time(ex1, trials, n))
            twos.append(speedup_time(ex2, trials, n))
        one, two = min(ones), min(twos)
    rows = [
        Row(
            f"{trials} CPU-bound trials, workers=2",
            two,
            "same search, workers=1",
            one,
            max_ratio=1 / 1.7,
            note=f"speedup {one / two:.2f}x, target >= 1.7x",
        )
    ]
    ok = (
        report(
            "Factory parallel speedup on 2 cores (ratio = time(workers=2) / time(workers=1))", rows
        )
        and ok
    )
    print(
        f"overall: {'all targets met' if ok else 'some targets NOT met (see above; timings are noisy on shared machines)'}"
    )


if __name__ == "__main__":
    main()
