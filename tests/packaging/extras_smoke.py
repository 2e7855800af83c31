"""A smoke test of every extra, run by ``.ci/wheel-check`` against the wheel installed with ``[all]``.

Not collected by the main test suite (the file name has no ``test_`` prefix: the suite tests each feature in
depth); here each extra does one real thing through Fireworks in the fresh environment, to prove that what
``pip install 'torch-fireworks[all]'`` resolves works together. The database checks need the PostgreSQL and
MariaDB servers that ``.ci/run`` starts (override the URLs with ``FIREWORKS_TEST_POSTGRES_URL`` and
``FIREWORKS_TEST_MARIADB_URL``); they fail, never skip, when a server is down.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

import fireworks
from fireworks import Experiment, Factory, Message
from fireworks.factory.examples import (
    quadratic_evaluator,
    quadratic_trainer,
    regression_evaluator,
    regression_trainer,
)

SERVERS = {
    "postgresql-psycopg": os.environ.get(
        "FIREWORKS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    ),
    "mariadb-pymysql": os.environ.get(
        "FIREWORKS_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test"
    ),
}


@pytest.mark.parametrize("server", sorted(SERVERS))
def test_db_extra_writes_and_reads_a_server(server: str) -> None:
    import sqlalchemy as sa
    import torch

    url = SERVERS[server]
    name = f"wheel_smoke_{uuid.uuid4().hex[:8]}"
    message = Message(
        {"x": torch.arange(1000, dtype=torch.float32), "label": torch.arange(1000) % 7}
    )
    table = fireworks.TableSource(name, url)
    try:
        table.insert(message)
        table.commit()
        back = Message.concat(list(fireworks.DBSource(name, url, batch_size=256)))
        assert sorted(back["x"].tolist()) == message["x"].tolist()
    finally:
        table.close()
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {name}"))
        engine.dispose()


def test_optuna_extra_runs_a_search() -> None:
    import optuna

    sampler = optuna.samplers.TPESampler(seed=0)
    generator = fireworks.OptunaGenerator("loss", "minimize", sampler, space={"x": (-5.0, 5.0)})
    factory = Factory(
        quadratic_trainer, quadratic_evaluator, generator, executor="inline", progress=False
    )
    trials = factory.run(max_trials=6)
    assert len(trials) == 6
    assert all(math.isfinite(t.metrics["loss"]) for t in trials)


def test_ignite_extra_trains_a_model() -> None:
    model = regression_trainer({"lr": 0.1, "epochs": 3, "batch_size": 32})
    assert regression_evaluator(model, {})["mse"] < 1.0


def test_tensorboard_extra_writes_event_files(tmp_path: Path) -> None:
    with Experiment("tb", root=tmp_path) as exp:
        writer = exp.tensorboard()
        for step in range(3):
            writer.add_scalar("loss", 1.0 / (step + 1), step)
        writer.flush()
        folder = exp.path / "tensorboard"
    assert list(folder.glob("events.out.tfevents.*")), list(folder.iterdir())


def test_dashboard_extra_is_usable() -> None:
    import dash
    import plotly

    assert dash.__version__ and plotly.__version__
    done = subprocess.run(
        [sys.executable, "-m", "fireworks", "--help"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    if "dashboard" in done.stdout:  # the command (issue 14) starts a server: check it parses
        helped = subprocess.run(
            [sys.executable, "-m", "fireworks", "dashboard", "--help"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert helped.returncode == 0, helped.stderr


def test_ray_extra_runs_tasks() -> None:
    from fireworks.parallel import EXECUTORS

    if "ray" in EXECUTORS:  # Fireworks' Ray executor (issue 13): a small search on a local cluster
        factory = Factory(
            quadratic_trainer,
            quadratic_evaluator,
            fireworks.GridGenerator({"x": [1.0, 2.0]}),
            executor="ray",
            workers=2,
            metric="loss",
            direction="minimize",
            progress=False,
        )
        assert sorted(t.params["x"] for t in factory.run()) == [1.0, 2.0]
        return
    import ray

    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    try:
        square = ray.remote(lambda v: v * v)
        assert ray.get([square.remote(i) for i in range(4)]) == [0, 1, 4, 9]
    finally:
        ray.shutdown()
