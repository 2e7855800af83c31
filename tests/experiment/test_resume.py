"""A pipeline checkpointed after k batches and reloaded in a fresh process yields exactly the same batches."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from fireworks import Experiment, load_checkpoint, load_experiment, save_checkpoint

PIPELINES = textwrap.dedent(
    """
    import torch
    from fireworks import Message, Source, ShufflerSource

    def data():
        return Message({"x": torch.arange(50.0), "tag": [f"r{i}" for i in range(50)]})

    def shuffled_batches():
        return ShufflerSource(Source(data()), seed=11).batch(8)

    def mapped_filtered():
        src = Source(data()).map(lambda m: m.merge({"y": m["x"] * 3}))
        return src.filter(lambda m: (m["x"] % 3 != 0).numpy()).shuffle(seed=4).batch(5, drop_last=True)

    def two_level_shuffle():
        return ShufflerSource(ShufflerSource(Source(data()), seed=1), seed=2).batch(7)

    class Run:
        # a training run: model, optimiser, data RNG and step counter, all in one state_dict

        def __init__(self):
            torch.manual_seed(0)
            self.model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
            self.opt = torch.optim.Adam(self.model.parameters(), lr=0.01)
            self.gen = torch.Generator().manual_seed(1)
            self.step = 0

        def state_dict(self):
            return {"model": self.model.state_dict(), "opt": self.opt.state_dict(),
                    "gen": self.gen.get_state(), "step": self.step}

        def load_state_dict(self, s):
            self.model.load_state_dict(s["model"])
            self.opt.load_state_dict(s["opt"])
            self.gen.set_state(s["gen"])
            self.step = s["step"]

        def train(self, n):
            losses = []
            for _ in range(n):
                x = torch.randn(8, 4, generator=self.gen)
                self.opt.zero_grad()
                loss = self.model(x).pow(2).mean()
                loss.backward()
                self.opt.step()
                self.step += 1
                losses.append(loss.item())
            return losses

    def drain(src, epochs=2):
        out = []
        for e in range(epochs):
            if e:
                src.reset()
            while True:
                try:
                    out.append(next(src)["x"].tolist())
                except StopIteration:
                    break
        return out
    """
)

CHILD = textwrap.dedent(
    """
    import json, sys
    sys.path.insert(0, sys.argv[1])
    import pipelines
    from fireworks import load_checkpoint
    out = {}
    for case in json.loads(sys.argv[2]):
        build, path = case
        obj = load_checkpoint(getattr(pipelines, build)(), path)
        out[path] = obj.train(4) if build == "Run" else pipelines.drain(obj)
    print(json.dumps(out))
    """
)

BUILDS = ["shuffled_batches", "mapped_filtered", "two_level_shuffle"]


@pytest.fixture
def pipelines(tmp_path, monkeypatch):
    (tmp_path / "pipelines.py").write_text(PIPELINES)
    monkeypatch.syspath_prepend(str(tmp_path))
    import importlib

    import pipelines as module

    return importlib.reload(module)


def test_pipelines_and_training_resume_exactly_in_a_new_process(pipelines, tmp_path):
    exp = Experiment("resume", root=tmp_path / "runs")
    cases, expected = [], {}
    run = pipelines.Run()
    run.train(3)
    path = str(exp.save_checkpoint(run, "train.ckpt"))
    expected[path] = run.train(
        4
    )  # losses of the next 4 steps: model, Adam moments, data RNG all resumed
    cases.append(("Run", path))
    for build in BUILDS:
        for k in (0, 3):
            src = getattr(pipelines, build)()
            for _ in range(k):
                next(src)
            path = str(exp.save_checkpoint(src, f"{build}_after_{k}.ckpt"))
            # the rest of this epoch, then a whole new (reshuffled) epoch
            expected[path] = pipelines.drain(src)
            assert expected[path], "the pipeline should still have batches"
            cases.append((build, path))
    out = subprocess.run(  # one fresh process for all cases keeps the test quick
        [sys.executable, "-c", CHILD, str(tmp_path), json.dumps(cases)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    for path, batches in expected.items():
        assert got[path] == batches, f"{path} resumed differently"


def test_pipeline_checkpoint_reloads_in_process_through_the_experiment(pipelines, tmp_path):
    src = pipelines.shuffled_batches()
    next(src)
    exp = Experiment("resume", root=tmp_path)
    exp.save_checkpoint(src)
    expected = pipelines.drain(src, epochs=1)
    fresh = load_experiment(exp.path).load_checkpoint(pipelines.shuffled_batches())
    assert pipelines.drain(fresh, epochs=1) == expected
    with pytest.raises(ValueError, match="must stay inside its folder"):
        exp.save_checkpoint(src, "../outside.ckpt")


def _train(params):
    return params["x"]


def _evaluate(model, params):
    return {"score": -((model - 2) ** 2)}


def test_factory_checkpoint_restores_its_history_into_a_fresh_study(tmp_path):
    from fireworks import Factory, GridGenerator

    def factory(study: str) -> Factory:
        gen = GridGenerator({"x": [1, 2, 3, 4]})
        return Factory(_train, _evaluate, gen, executor="inline", progress=False, study=study)

    first = factory("a")
    first.run(max_trials=2)
    save_checkpoint(first, tmp_path / "factory.ckpt")
    again = load_checkpoint(factory("b"), tmp_path / "factory.ckpt")
    assert [(t.id, t.params, t.metrics) for t in again.history()] == [
        (t.id, t.params, t.metrics) for t in first.history()
    ]
    assert [t.params["x"] for t in again.run()] == [1, 2, 3, 4]  # continues, repeats nothing
