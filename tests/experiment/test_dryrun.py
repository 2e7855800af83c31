"""Dry runs: per-node timings and schemas, the broken node named, the pipeline's state untouched."""

from __future__ import annotations

import pytest
import torch

from fireworks import Message, PipelineError, ShufflerSource, Source, dry_run
from fireworks.experiment import DryRunReport


def _data(n: int = 100) -> Message:
    return Message({"x": torch.arange(float(n)), "label": [f"r{i}" for i in range(n)]})


def _pipeline() -> Source:
    return (
        Source(_data(), name="data")
        .map(lambda m: m.merge({"x2": m["x"] * 2}), name="double")
        .shuffle(seed=3, name="shuffle")
        .batch(16, name="batches")
    )


def test_a_healthy_pipeline_reports_every_node_in_order():
    report = dry_run(_pipeline(), batches=2)
    assert isinstance(report, DryRunReport) and report.ok and report.first_error is None
    names = [n.name for n in report.nodes]
    assert names.index("data") < names.index("double") < names.index("shuffle") < len(names) - 1
    assert names[-1] == "batches"
    last = report["batches"]
    assert (last.messages, last.rows, last.status) == (2, 32, "ok")
    assert last.schema == {"x": "tensor[float32]", "label": "vector[str]", "x2": "tensor[float32]"}
    assert report["data"].schema == {"x": "tensor[float32]", "label": "vector[str]"}
    assert all(n.seconds >= n.self_seconds >= 0 for n in report.nodes)
    text = str(report)
    assert "dry run OK" in text and "batches" in text and "x2: tensor[float32]" in text
    with pytest.raises(KeyError, match="no node named 'nope'"):
        report["nope"]


def test_limits_stop_each_node_early():
    report = dry_run(_pipeline(), rows=20, batches=50)
    assert report["batches"].rows == 32  # two batches of 16 reach 20 rows
    assert report["data"].rows == 20


def test_the_broken_node_is_named_and_downstream_is_skipped():
    def explode(m: Message) -> Message:
        raise RuntimeError("bad column arithmetic")

    pipe = _pipeline().map(explode, name="exploder").map(lambda m: m, name="after")
    report = dry_run(pipe, train_step=lambda batch: None)
    assert not report.ok
    bad = report.first_error
    assert bad is not None and bad.name == "exploder" and bad.status == "error"
    assert "bad column arithmetic" in bad.error and "explode" in bad.traceback
    assert report["after"].status == "skipped" and report["batches"].status == "ok"
    assert report.train_step is not None and report.train_step.status == "skipped"
    assert "first error at 'exploder'" in str(report)
    with pytest.raises(PipelineError, match="dry run failed at 'exploder'"):
        report.raise_for_error()


def test_a_node_failing_only_on_some_rows_is_caught_in_the_slice():
    def strict(m: Message) -> Message:
        if (m["x"] >= 3).any():
            raise ValueError(f"x too large: {m['x'].max().item()}")
        return m

    report = dry_run(Source(_data(), name="data").map(strict, name="strict"), rows=10, batches=10)
    assert report.first_error is not None and report.first_error.name == "strict"


def test_train_step_runs_on_the_first_batch_and_its_errors_are_reported():
    seen: list[int] = []
    report = dry_run(_pipeline(), train_step=lambda b: seen.append(len(b)))
    assert report.ok and seen == [16] and report.train_step.status == "ok"

    model = torch.nn.Linear(3, 1)

    def step(batch: Message) -> None:
        model(batch["x"].unsqueeze(1))  # wrong width: 1 column, the model wants 3

    report = dry_run(_pipeline(), train_step=step)
    assert not report.ok and report.first_error is report.train_step
    assert "mat1 and mat2" in report.train_step.error


def test_the_dry_run_leaves_the_pipeline_state_as_it_was():
    pipe = ShufflerSource(Source(_data()), seed=5).batch(10)
    reference = ShufflerSource(Source(_data()), seed=5).batch(10)
    next(pipe)
    next(reference)
    dry_run(pipe, batches=3)
    assert [next(pipe)["x"].tolist() for _ in range(3)] == [
        next(reference)["x"].tolist() for _ in range(3)
    ]


def test_arguments_are_checked():
    with pytest.raises(ValueError, match="rows and batches must be at least 1, but got rows=0"):
        dry_run(_pipeline(), rows=0)


def _train(params):
    return {"w": params["x"] * 2}


def _evaluate(model, params):
    return {"score": float(model["w"])}


def _broken_evaluate(model, params):
    return {"score": model["missing"]}


def test_a_factory_dry_run_runs_one_trial_inline_and_records_nothing():
    from fireworks import Factory, GridGenerator

    gen = GridGenerator({"x": [1, 2, 3]})
    factory = Factory(_train, _evaluate, gen, executor="inline", progress=False)
    report = dry_run(factory)
    assert report.ok, str(report)
    assert [n.name for n in report.nodes] == ["generator", "trainer", "evaluator"]
    assert report["evaluator"].schema == {"score": "float"} and report["trainer"].kind == "_train"
    assert factory.history() == []
    assert [t.params["x"] for t in factory.run()] == [1, 2, 3]  # the generator was not advanced

    broken = Factory(
        _train, _broken_evaluate, GridGenerator({"x": [1]}), executor="inline", progress=False
    )
    report = dry_run(broken)
    assert not report.ok and report.first_error.name == "evaluator"
    assert "missing" in report.first_error.error
