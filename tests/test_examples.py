"""Every script in examples/ runs as a user would run it (a fresh process, small sizes) and does what it says.

Each example prints a JSON summary as its last line; the tests check those numbers and the files, tables and
checkpoints the examples leave behind.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from fireworks import load_experiment

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
pytestmark = pytest.mark.slow


def run_example(name: str, *args: str, cwd: Path) -> tuple[dict[str, Any], str]:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, f"{name} failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stdout


def import_example(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_example_is_tested() -> None:
    tested = {
        "tabular_from_database",
        "text_classification",
        "image_augmentation",
        "parquet_out_of_core",
        "optuna_hpo",
        "resume_from_checkpoint",
    }
    assert {p.stem for p in EXAMPLES.glob("*.py")} == tested


def test_tabular_from_database(tmp_path: Path, db_url: str) -> None:
    result, out = run_example(
        "tabular_from_database.py", "--epochs", "2", "--database", db_url, cwd=tmp_path
    )
    assert result["rows_in_database"] == 1797
    assert result["predictions_written"] == 359  # the 20% test split, written through TableSource
    assert result["classes"] == 10
    assert result["accuracy"] > 0.7
    assert out.count("digit ") == 10  # per-class accuracies computed by the SQL query


def test_text_classification(tmp_path: Path) -> None:
    result, out = run_example("text_classification.py", "--epochs", "3", cwd=tmp_path)
    assert result["accuracy"] > result["majority_baseline"] + 0.2
    assert 100 < result["vocabulary"] <= 2002
    assert (
        1 <= result["batch_width"] <= 64
    )  # padded to the longest text of the batch, capped at --max-len
    assert "a batch: tokens (32, " in out


def test_image_augmentation(tmp_path: Path) -> None:
    result, _ = run_example("image_augmentation.py", "--epochs", "2", cwd=tmp_path)
    assert (result["train_rows"], result["test_rows"]) == (1438, 359)
    assert result["mean_abs_change"] > 0.01
    assert result["accuracy"] > 0.6


def test_image_augmentation_is_vectorised_and_resumable() -> None:
    import torch

    from fireworks.datasets import load_digits

    module = import_example("image_augmentation")
    batch = load_digits(images=True)[:16]
    augment = module.RandomShiftNoise(shift=1, noise=0.0, seed=3)
    state = augment.state_dict()
    first = augment(batch)["image"]
    augment.load_state_dict(state)
    assert torch.equal(first, augment(batch)["image"])
    # with no noise, a shift only moves pixels: each image keeps its ink or loses a border row/column
    assert first.shape == (16, 8, 8)
    assert (first.sum(dim=(1, 2)) <= batch["image"].sum(dim=(1, 2)) + 1e-5).all()


def test_parquet_out_of_core(tmp_path: Path) -> None:
    args = ["--rows", "20000", "--row-group", "1000", "--cache", "4000", "--epochs", "2"]
    result, _ = run_example(
        "parquet_out_of_core.py", *args, "--folder", str(tmp_path), cwd=tmp_path
    )
    assert (tmp_path / "data.parquet").stat().st_size > 1_000_000
    assert result["each_row_once"]
    assert result["largest_cache"] <= 4000
    assert (
        0.5 <= result["file_reads_per_epoch"] <= 1.1
    )  # the block shuffle reads the file about once
    assert result["accuracy"] > 0.8


def test_parquet_window_permutation_is_a_permutation() -> None:
    import numpy as np

    module = import_example("parquet_out_of_core")
    sizes = np.array([5, 5, 5, 3])
    order = module.window_permutation(sizes, window=2, rng=np.random.default_rng(0))
    assert sorted(order.tolist()) == list(range(18))
    groups = np.searchsorted(np.cumsum(sizes), order, side="right")
    # the first window holds exactly two whole row groups
    assert len(set(groups[:10].tolist())) == 2


def test_optuna_hpo_runs_in_parallel_and_resumes(tmp_path: Path) -> None:
    result, _ = run_example(
        "optuna_hpo.py", "--trials", "4", "--epochs", "2", "--root", "runs", cwd=tmp_path
    )
    assert result["trials"] == 4 and result["failed"] == 0
    run = Path(result["path"])
    assert run.parent == tmp_path / "runs" and (run / "factory.sqlite").is_file()
    workers = {t["worker"] for t in _trials(run)}
    assert (
        None not in workers and 1 <= len(workers) <= 2
    )  # trials ran in (at most 2) worker processes
    again, _ = run_example(
        "optuna_hpo.py", "--trials", "1", "--epochs", "2", "--resume", str(run), cwd=tmp_path
    )
    assert again["trials"] == 5 and again["path"] == str(run)
    exp = load_experiment(run)
    assert exp.metadata["best"]["metrics"]["accuracy"] == pytest.approx(again["best"])
    exp.close()


def _trials(run: Path) -> list[dict[str, Any]]:
    import sqlalchemy as sa

    engine = sa.create_engine(f"sqlite:///{run / 'factory.sqlite'}")
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT id, worker FROM fireworks_trials")).all()
    finally:
        engine.dispose()
    return [{"id": r[0], "worker": r[1]} for r in rows]


def test_resume_from_checkpoint_in_a_fresh_process(tmp_path: Path) -> None:
    # 1797 rows / 128 = 15 batches an epoch: stopping at 10 and going to 24 crosses an epoch boundary
    common = ["--steps", "24", "--batch-size", "128", "--checkpoint", str(tmp_path / "run.ckpt")]
    first, _ = run_example("resume_from_checkpoint.py", *common, "--stop-after", "10", cwd=tmp_path)
    assert first["first_step"] == 0 and len(first["batches"]) == 10
    assert (tmp_path / "run.ckpt").is_file()
    rest, out = run_example("resume_from_checkpoint.py", *common, cwd=tmp_path)
    assert "resumed from" in out and rest["first_step"] == 10 and len(rest["batches"]) == 14

    module = import_example("resume_from_checkpoint")
    whole = module.train(24, 0, 128, None, None)
    assert first["batches"] + rest["batches"] == whole["batches"]
    assert rest["weights"] == whole["weights"]
    assert len(set(whole["batches"])) == 24  # a new permutation in the second epoch
