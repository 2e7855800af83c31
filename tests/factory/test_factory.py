"""The Factory with real worker processes and real storage (SQLite file, in-memory SQLite, PostgreSQL)."""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time

import pytest
from factory_trial_fns import (
    empty_metrics,
    identity,
    last_level,
    quadratic_loss,
    reporter,
    score_x,
    sleeper,
    troublemaker,
    write_file,
)

from fireworks import Factory, GridGenerator, RandomGenerator
from fireworks.factory import Events, MedianPruner, Trial, TrialStorage


def grid(**space):
    return GridGenerator(space)


def test_trials_run_in_parallel_processes() -> None:
    factory = Factory(
        sleeper, score_x, grid(x=list(range(6)), sleep=[1.0]), workers=3, progress=False
    )
    start = time.perf_counter()
    history = factory.run()
    elapsed = time.perf_counter() - start
    assert [t.status for t in history] == ["complete"] * 6
    assert elapsed < 4.5, f"6 one-second trials on 3 workers took {elapsed:.2f} s"
    assert len({t.worker for t in history}) == 3
    assert os.getpid() not in {t.worker for t in history}
    assert [t.id for t in history] == list(range(6))
    assert history[2].metrics == {"score": -0.0}


def test_failures_and_crashed_processes_are_isolated() -> None:
    modes = ["ok", "raise", "exit", "kill", "fine"]
    factory = Factory(
        troublemaker,
        score_x,
        grid(mode=modes),
        workers=2,
        progress=False,
    )
    history = factory.run()
    assert len(history) == len(modes)
    by_mode = {t.params["mode"]: t for t in history}
    assert by_mode["ok"].status == by_mode["fine"].status == "complete"
    assert by_mode["ok"].metrics == {"score": 0.0}
    raised = by_mode["raise"]
    assert raised.status == "failed" and raised.metrics == {}
    assert raised.error.startswith("ValueError: bad params")
    assert "in troublemaker" in raised.error  # the worker's traceback
    assert (
        "WorkerDiedError" in by_mode["exit"].error and "exited with code 7" in by_mode["exit"].error
    )
    assert "SIGKILL" in by_mode["kill"].error


def test_timeout_fails_the_trial_and_the_search_goes_on() -> None:
    factory = Factory(
        troublemaker, score_x, grid(mode=["slow", "ok"]), workers=1, timeout=0.5, progress=False
    )
    start = time.perf_counter()
    slow, ok = factory.run()
    assert time.perf_counter() - start < 10
    assert slow.status == "failed" and "timed out after 0.5 s" in slow.error
    assert ok.status == "complete"


def test_bad_metrics_fail_the_trial_with_a_clear_error() -> None:
    from factory_trial_fns import bad_metrics

    (trial,) = Factory(identity, bad_metrics, grid(x=[1]), executor="inline", progress=False).run()
    assert trial.status == "failed"
    assert "evaluator metric 'score' must be a number, but got str: 'high'" in trial.error


class Recorder:
    """A generator that records the statuses it saw, then proposes x = 0, 1, 2, ..."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.seen: list[list[str]] = []

    def __call__(self, history: list[Trial]) -> dict | None:
        self.seen.append([t.status for t in history])
        return {"x": len(history), "sleep": 0.3} if len(history) < self.n else None


def test_generator_sees_running_trials() -> None:
    gen = Recorder(4)
    Factory(sleeper, score_x, gen, workers=2, progress=False).run()
    assert gen.seen[0] == [] and gen.seen[1] == ["running"]
    assert any("running" in s and "complete" in s for s in gen.seen)
    assert gen.seen[-1].count("complete") >= 3


def test_max_trials_counts_this_run_only() -> None:
    factory = Factory(identity, score_x, grid(x=list(range(10))), executor="inline", progress=False)
    assert len(factory.run(max_trials=3)) == 3
    assert len(factory.run(max_trials=2)) == 5
    assert len(factory.run()) == 10
    assert len(factory.run()) == 10  # grid exhausted
    assert factory.best_trial is None  # no metric was named
    factory.metric = "score"
    assert factory.best_trial.params == {"x": 2}


@pytest.mark.parametrize("url", ["sqlite_file", pytest.param("postgresql", marks=pytest.mark.db)])
def test_resume_continues_the_history(url, request, table_name) -> None:
    storage = (
        request.getfixturevalue("sqlite_url")
        if url == "sqlite_file"
        else request.getfixturevalue("postgres_url")
    )
    space = {"x": (-5.0, 5.0), "layers": [1, 2, 3]}

    def factory() -> Factory:  # the same search, opened again on the same storage
        return Factory(
            identity,
            score_x,
            RandomGenerator(space, seed=7),
            storage=storage,
            study=table_name,
            workers=2,
            progress=False,
        )

    first = factory()
    assert len(first.run(max_trials=3)) == 3
    first.close()
    second = factory()
    assert [t.id for t in second.history()] == [0, 1, 2]
    history = second.run(max_trials=2)
    assert [t.id for t in history] == [0, 1, 2, 3, 4]
    assert all(t.status == "complete" for t in history)
    second.close()
    # the same seed in one uninterrupted run proposes the same params: reproducible across resume
    straight = Factory(
        identity, score_x, RandomGenerator(space, seed=7), executor="inline", progress=False
    ).run(max_trials=5)
    assert [t.params for t in straight] == [t.params for t in history]
    # another study in the same database is independent
    other = Factory(
        identity, score_x, grid(x=[1]), storage=storage, study=table_name + "_b", progress=False
    )
    assert other.history() == []
    other.close()


def test_trials_left_running_by_a_dead_search_are_marked_failed(sqlite_url) -> None:
    storage = TrialStorage(sqlite_url, "s")
    storage.create({"x": 1}, owner=f"{socket.gethostname()}:999999999:dead")
    storage.create({"x": 2}, owner="some-other-host:1:alive")
    storage.close()
    factory = Factory(
        identity, score_x, grid(x=[1, 2, 3]), storage=sqlite_url, study="s", progress=False
    )
    orphan, remote = factory.history()
    assert orphan.status == "failed" and orphan.error.startswith("interrupted")
    assert remote.status == "running"  # another machine's search may still be running it
    factory.close()


def test_ctrl_c_stops_cleanly_and_storage_stays_consistent(sqlite_url) -> None:
    factory = Factory(
        sleeper,
        score_x,
        grid(x=[0, 1, 2, 3], sleep=[20.0]),
        storage=sqlite_url,
        workers=2,
        progress=False,
    )
    threading.Timer(1.5, os.kill, args=(os.getpid(), signal.SIGINT)).start()
    start = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        factory.run()
    assert time.perf_counter() - start < 10
    history = factory.history()
    assert [t.status for t in history] == ["failed", "failed"]
    assert all("interrupted (KeyboardInterrupt)" in t.error for t in history)
    factory.close()
    reopened = Factory(sleeper, score_x, grid(x=[0]), storage=sqlite_url, progress=False)
    assert [t.to_dict() for t in reopened.history()] == [t.to_dict() for t in history]
    reopened.close()


def test_events_fire_and_handlers_are_checked_and_removable() -> None:
    factory = Factory(
        troublemaker, score_x, grid(mode=["ok", "raise"]), executor="thread", progress=False
    )
    seen: list[tuple] = []
    factory.on("trial_started", lambda f, t: seen.append(("started", t.id)))
    factory.on(Events.TRIAL_COMPLETED, lambda t: seen.append(("completed", t.id)))  # no factory arg
    handle = factory.on("trial_failed", lambda f, t, tag: seen.append((tag, t.id)), "failed")

    @factory.on("search_finished")
    def finished(f):
        seen.append(("finished", len(f.history())))

    factory.run()
    assert seen == [
        ("started", 0),
        ("completed", 0),
        ("started", 1),
        ("failed", 1),
        ("finished", 2),
    ]
    handle.remove()
    assert not factory.has_event_handler(handle._entry[0])
    with pytest.raises(
        TypeError, match=r"handler .* for 'trial_completed' must accept \(factory, trial\)"
    ):
        factory.on("trial_completed", lambda a, b, c: None)
    with pytest.raises(ValueError, match="unknown event 'trial_exploded'"):
        factory.on("trial_exploded", print)


def test_reports_are_stored_and_a_pruner_stops_bad_trials(sqlite_url) -> None:
    # trials run one at a time; the third is far worse than the median of the others and gets pruned
    levels = [0.0, 0.1, 50.0, 0.02]
    factory = Factory(
        reporter,
        last_level,
        grid(level=levels),
        storage=sqlite_url,
        executor="thread",
        pruner=MedianPruner("loss", "minimize", warmup_steps=2, min_trials=2),
        progress=False,
    )
    reported: list[int] = []
    factory.on("trial_reported", lambda f, t, step, metrics: reported.append(step))
    history = factory.run()
    assert [t.status for t in history] == ["complete", "complete", "pruned", "complete"]
    assert 3 <= len(history[2].reports) < 40
    assert history[0].reports[:2] == [(0, {"loss": 1.0}), (1, {"loss": 0.5})]
    assert len(reported) == sum(len(t.reports) for t in history)
    stored = TrialStorage(sqlite_url).load()
    assert [t.reports for t in stored] == [t.reports for t in history]


def test_reports_travel_from_worker_processes(sqlite_url) -> None:
    factory = Factory(reporter, last_level, grid(level=[1.0]), storage=sqlite_url, progress=False)
    (trial,) = factory.run()
    assert trial.status == "complete" and len(trial.reports) == 40
    assert trial.reports[-1] == (39, {"loss": 1.0 + 1.0 / 40})


def test_unimportable_functions_are_refused_with_a_hint() -> None:
    factory = Factory(lambda p: p, score_x, grid(x=[1]), progress=False)
    with pytest.raises(TypeError, match=r"must be picklable.*executor='thread'"):
        factory.run()
    assert factory.history() == []
    # the same functions work in threads
    factory.executor = "thread"
    assert factory.run()[0].status == "complete"


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="workers must be an int >= 1, but got 0"):
        Factory(identity, score_x, grid(x=[1]), workers=0)
    with pytest.raises(TypeError, match="trainer must be callable"):
        Factory(None, score_x, grid(x=[1]))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="direction must be 'maximize' or 'minimize'"):
        Factory(identity, score_x, grid(x=[1]), metric="score", direction="up")
    with pytest.raises(ValueError, match="is not a SQLAlchemy URL"):
        Factory(identity, score_x, grid(x=[1]), storage="not a url")
    factory = Factory(identity, score_x, lambda h: [1, 2], executor="inline", progress=False)
    with pytest.raises(
        TypeError, match=r"generator must return a dict of params or None, but got \[1, 2\]"
    ):
        factory.run()
    factory = Factory(
        identity, score_x, lambda h: {"x": object()}, executor="inline", progress=False
    )
    with pytest.raises(TypeError, match="params must be JSON-serialisable"):
        factory.run()
    with pytest.raises(ValueError, match="max_trials must be an int >= 0 or None, but got -1"):
        factory.run(max_trials=-1)


def test_history_message_and_state_dict() -> None:
    factory = Factory(
        identity,
        quadratic_loss,
        grid(x=[1.0, 2.0], y=[-1.0]),
        metric="loss",
        direction="minimize",
        executor="inline",
        progress=False,
    )
    factory.run()
    msg = factory.history_message()
    assert len(msg) == 2
    assert list(msg["params.x"]) == [1.0, 2.0]
    assert list(msg["metrics.loss"]) == [1.0, 0.0]
    assert list(msg["status"]) == ["complete", "complete"]
    assert factory.best_trial.params == {"x": 2.0, "y": -1.0}
    state = factory.state_dict()
    json.dumps(state)  # JSON-compatible only
    fresh = Factory(identity, quadratic_loss, grid(x=[1.0, 2.0], y=[-1.0]), progress=False)
    fresh.load_state_dict(state)
    assert [t.to_dict() for t in fresh.history()] == [t.to_dict() for t in factory.history()]
    assert fresh.run(max_trials=1) == fresh.history()  # grid already done: nothing new
    assert len(fresh.history()) == 2


def test_each_trial_gets_its_own_folder(tmp_path) -> None:
    factory = Factory(
        write_file, empty_metrics, grid(x=[1, 2]), experiment=tmp_path, workers=2, progress=False
    )
    assert [t.status for t in factory.run()] == ["complete", "complete"]
    assert (tmp_path / "trials" / "trial_1" / "model.txt").read_text() == "trial 1 x=2"
    assert (tmp_path / "factory.sqlite").exists()  # storage defaults to the experiment's folder
    factory.close()
