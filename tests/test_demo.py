"""``fireworks demo`` end to end, in a real subprocess, and the experiment folder it leaves behind."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
import torch

from fireworks import load_checkpoint, load_experiment
from fireworks.demo import build_model
from fireworks.experiment.cli import sqlite_tables

SMALL = ["--size", "200", "--trials", "3", "--workers", "2", "--epochs", "3", "--seed", "7"]


def fireworks(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fireworks", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=240,
    )


@pytest.mark.slow
def test_demo_writes_a_complete_experiment(tmp_path: Path) -> None:
    done = fireworks("demo", *SMALL, "--root", "out", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    run = tmp_path / "out" / "demo_0"
    assert run.is_dir()
    # it says how to look again, and that command works
    assert f"fireworks show {run}" in done.stdout
    assert done.stdout.rstrip().splitlines()[-1].startswith("dashboard:    fireworks dashboard out")
    assert "best: trial" in done.stdout
    shown = fireworks("show", str(run), cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "trials" in shown.stdout and "digits" in shown.stdout

    exp = load_experiment(run)
    options = exp.metadata["options"]
    assert options["size"] == 200 and options["trials"] == 3 and options["seed"] == 7
    assert exp.metadata["seeds"] == [7]

    # the data went into the run's own SQLite file through TableSource
    tables = {t: n for t, n, _ in sqlite_tables(run / "data.sqlite")}
    assert tables["digits"] == 200

    # one row per trial, every trial complete, sensible accuracies (10 classes: chance is 0.1)
    trials = exp.read("trials")
    assert sorted(trials["trial"].tolist()) == [0, 1, 2]
    assert set(trials["status"]) == {"complete"}
    accuracy = trials["accuracy"].to_numpy()
    assert ((accuracy > 0.3) & (accuracy <= 1.0)).all(), accuracy
    epochs = exp.read("epochs")
    assert len(epochs) == 3 * 3
    assert sorted(set(epochs["epoch"].tolist())) == [0, 1, 2]

    # the best trial is recorded and its checkpoint loads into a fresh model and scores as recorded
    best = exp.metadata["best_trial"]
    assert best["metrics"]["accuracy"] == pytest.approx(accuracy.max())
    model = load_checkpoint(build_model(best["params"]), run / best["checkpoint"])
    reference = load_checkpoint(
        build_model(best["params"]), run / "trials" / f"trial_{best['id']}" / "model.ckpt"
    )
    for a, b in zip(model.state_dict().values(), reference.state_dict().values()):
        assert torch.equal(a, b)

    # the search itself is in the Factory's storage inside the folder
    engine = sa.create_engine(f"sqlite:///{run / 'factory.sqlite'}")
    try:
        names = sa.inspect(engine).get_table_names()
    finally:
        engine.dispose()
    assert names, "the Factory stored no trials"
    exp.close()


@pytest.mark.slow
def test_demo_refuses_to_overwrite_a_table(tmp_path: Path, sqlite_url: str) -> None:
    engine = sa.create_engine(sqlite_url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE digits (x INTEGER)"))
        conn.execute(sa.text("INSERT INTO digits VALUES (1)"))
    done = fireworks("demo", *SMALL, "--database", sqlite_url, "--root", "out", cwd=tmp_path)
    assert done.returncode == 2
    assert "table 'digits' already exists" in done.stderr and "--table" in done.stderr
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM digits")).scalar_one() == 1
    engine.dispose()


def test_demo_rejects_bad_options_with_the_rule(tmp_path: Path) -> None:
    done = fireworks("demo", "--size", "5", "--root", "out", cwd=tmp_path)
    assert done.returncode == 2
    assert "--size must be between 50 and 1797 rows, but got 5" in done.stderr


def test_demo_help_explains_every_option(tmp_path: Path) -> None:
    done = fireworks("demo", "--help", cwd=tmp_path)
    assert done.returncode == 0
    for option in ("--size", "--trials", "--workers", "--epochs", "--database", "--root", "--seed"):
        assert option in done.stdout
    assert "default" in done.stdout


@pytest.mark.slow
@pytest.mark.db
def test_demo_on_a_database_server(tmp_path: Path, postgres_url: str, table_name: str) -> None:
    args = ["--size", "100", "--trials", "2", "--epochs", "1", "--quiet"]
    try:
        done = fireworks(
            "demo",
            *args,
            "--database",
            postgres_url,
            "--table",
            table_name,
            "--root",
            "out",
            cwd=tmp_path,
        )
        assert done.returncode == 0, done.stderr
        engine = sa.create_engine(postgres_url)
        with engine.connect() as conn:
            rows = conn.execute(sa.text(f'SELECT COUNT(*) FROM "{table_name}"')).scalar_one()
        assert rows == 100
        assert load_experiment(tmp_path / "out" / "demo_0").metadata["best_trial"] is not None
    finally:
        engine = sa.create_engine(postgres_url)
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP TABLE IF EXISTS "{table_name}"'))
        engine.dispose()
