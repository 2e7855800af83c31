"""Experiment folders: naming, concurrent creation, metadata, files, engines and reload."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import random
import subprocess
import sys
import threading
from datetime import datetime

import numpy as np
import pytest
import sqlalchemy as sa
import torch

from fireworks import Experiment, list_experiments, load_experiment


def test_iterations_count_up_from_zero_per_exact_name(tmp_path):
    for folder in ("exp_a_0", "exp2_0", "exp_x", "exp_7z", "other_3"):
        (tmp_path / folder).mkdir()
    first = Experiment("exp", root=tmp_path)
    second = Experiment("exp", root=tmp_path)
    assert (first.iteration, second.iteration) == (0, 1)
    assert first.path == tmp_path / "exp_0" and second.path.name == "exp_1"
    assert Experiment("exp_a", root=tmp_path).iteration == 1
    assert Experiment("exp2", root=tmp_path).iteration == 1
    (tmp_path / "exp_9").mkdir()
    assert Experiment("exp", root=tmp_path).path.name == "exp_10"


def test_name_and_root_are_validated(tmp_path):
    with pytest.raises(ValueError, match="path separators"):
        Experiment("a/b", root=tmp_path)
    with pytest.raises(ValueError, match="non-empty str"):
        Experiment("", root=tmp_path)
    nested = tmp_path / "new" / "root"
    assert Experiment("x", root=nested).path.parent == nested


def test_concurrent_creation_in_threads_never_collides(tmp_path):
    made: list[str] = []
    lock = threading.Lock()

    def create() -> None:
        for _ in range(5):
            exp = Experiment("run", root=tmp_path)
            with lock:
                made.append(exp.path.name)

    threads = [threading.Thread(target=create) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(made) == sorted(f"run_{i}" for i in range(40))


def _create_in_process(root: str, count: int, queue: mp.Queue) -> None:
    queue.put([Experiment("proc", root=root).iteration for _ in range(count)])


def test_concurrent_creation_in_processes_never_collides(tmp_path):
    # fork: real processes without re-importing torch in each (spawn costs seconds on a busy machine)
    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    queue = ctx.Queue()
    procs = [
        ctx.Process(target=_create_in_process, args=(str(tmp_path), 5, queue)) for _ in range(8)
    ]
    for p in procs:
        p.start()
    results = [queue.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    iterations = sorted(i for r in results for i in r)
    assert iterations == list(range(40))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"proc_{i}" for i in range(40))


def test_metadata_records_reproducibility_and_reloads(tmp_path):
    before = datetime.now()
    exp = Experiment("meta", root=tmp_path, description="baseline")
    after = datetime.now()
    assert before <= exp.timestamp <= after
    env = exp.metadata["environment"]
    assert env["python"] == sys.version.split()[0]
    assert env["packages"]["torch"] == torch.__version__
    assert "numpy" in env["packages"] and "fireworks" in env["packages"]
    assert env["command"][0] == sys.executable and env["hostname"]
    exp.metadata["lr"] = 0.01
    exp.metadata.update({"layers": [64, 32], "opt": {"name": "adam"}})
    reloaded = load_experiment(exp.path)
    assert (reloaded.name, reloaded.iteration, reloaded.description) == ("meta", 0, "baseline")
    assert reloaded.timestamp == exp.timestamp
    assert reloaded.metadata["lr"] == 0.01 and reloaded.metadata["layers"] == [64, 32]
    assert dict(reloaded.metadata) == dict(exp.metadata)
    del reloaded.metadata["lr"]
    assert "lr" not in load_experiment(exp.path).metadata


def test_metadata_refuses_non_json_values_and_keeps_the_file(tmp_path):
    exp = Experiment("meta", root=tmp_path)
    exp.metadata["ok"] = 1
    before = (exp.path / "metadata.json").read_bytes()
    with pytest.raises(TypeError, match=r"metadata\['model'\] is a Linear; store str\(value\)"):
        exp.metadata["model"] = torch.nn.Linear(1, 1)
    with pytest.raises(TypeError, match="non-str key 1"):
        exp.metadata["d"] = {1: 2}
    assert (exp.path / "metadata.json").read_bytes() == before
    assert "model" not in exp.metadata
    exp.metadata["np"] = np.float32(0.5)
    assert json.loads((exp.path / "metadata.json").read_text())["np"] == 0.5


def test_metadata_writes_from_two_handles_do_not_lose_keys(tmp_path):
    exp = Experiment("meta", root=tmp_path)
    other = load_experiment(exp.path)
    exp.metadata["a"] = 1
    other.metadata["b"] = 2
    assert {"a", "b"} <= set(load_experiment(exp.path).metadata)


def test_git_commit_and_dirty_flag_are_recorded(tmp_path, monkeypatch):
    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-c", "user.email=a@b", "-c", "user.name=a"]
    subprocess.run([*git, "init", "-q"], cwd=repo, check=True)
    (repo / "f.txt").write_text("1")
    subprocess.run([*git, "add", "f.txt"], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-qm", "c"], cwd=repo, check=True)
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True
    ).stdout.strip()
    monkeypatch.chdir(repo)
    clean = Experiment("g", root=tmp_path / "runs").metadata["environment"]["git"]
    assert clean["commit"] == head and clean["dirty"] is False
    (repo / "f.txt").write_text("2")
    assert Experiment("g", root=tmp_path / "runs").metadata["environment"]["git"]["dirty"] is True
    monkeypatch.chdir(tmp_path)
    assert Experiment("g", root=tmp_path / "runs").metadata["environment"]["git"] is None


def test_seed_seeds_everything_and_is_recorded(tmp_path):
    exp = Experiment("s", root=tmp_path)
    exp.seed(1234)
    a = (random.random(), np.random.rand(), torch.rand(1).item())
    exp.seed(1234)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == a
    fresh = exp.seed()
    assert load_experiment(exp.path).metadata["seeds"] == [1234, 1234, fresh]
    with pytest.raises(ValueError, match="non-negative int"):
        exp.seed(-1)


def test_open_reads_and_writes_inside_the_folder_only(tmp_path):
    exp = Experiment("f", root=tmp_path)
    with exp.open("notes/a.txt", "w") as f:
        f.write("hello")
    assert (exp.path / "notes" / "a.txt").read_text() == "hello"
    with exp.open("notes/a.txt") as f:
        assert f.read() == "hello"
    assert exp.open("model.pt", "wb", string_only=True) == str(exp.path / "model.pt")
    with pytest.raises(ValueError, match="must stay inside its folder"):
        exp.open("../escape.txt", "w")
    with pytest.raises(ValueError, match="must stay inside its folder"):
        exp.open("/etc/passwd")
    assert not (tmp_path / "escape.txt").exists()
    assert exp.files() == ["metadata.json", "notes/a.txt"]


def test_get_engine_is_sqlite_in_the_folder_with_wal(tmp_path):
    exp = Experiment("db", root=tmp_path)
    engine = exp.get_engine("results")
    assert isinstance(engine, sa.Engine)
    assert exp.get_engine("results") is engine
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
        conn.exec_driver_sql("INSERT INTO t VALUES (1), (2)")
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 1000
    assert (exp.path / "results.sqlite").is_file()
    exp.close()
    again = load_experiment(exp.path).get_engine("results")
    with again.connect() as conn:
        assert conn.exec_driver_sql("SELECT SUM(x) FROM t").scalar() == 3


def test_list_experiments(tmp_path):
    Experiment("b", root=tmp_path, description="second")
    Experiment("a", root=tmp_path)
    Experiment("a", root=tmp_path)
    (tmp_path / "not_a_run").mkdir()
    runs = list_experiments(tmp_path)
    assert [(r["name"], r["iteration"]) for r in runs] == [("a", 0), ("a", 1), ("b", 0)]
    assert runs[2]["description"] == "second"
    assert [r["iteration"] for r in list_experiments(tmp_path, name="a")] == [0, 1]
    with pytest.raises(FileNotFoundError, match="no folder"):
        list_experiments(tmp_path / "missing")


def test_load_experiment_refuses_a_plain_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"has no metadata\.json"):
        load_experiment(tmp_path)
    with pytest.raises(FileNotFoundError, match="no experiment folder"):
        load_experiment(tmp_path / "missing")


def test_tensorboard_writer_logs_into_the_folder(tmp_path):
    pytest.importorskip("tensorboard")
    with Experiment("tb", root=tmp_path) as exp:
        writer = exp.tensorboard()
        writer.add_scalar("loss", 0.5, 0)
        assert exp.tensorboard() is writer
    events = list((exp.path / "tensorboard").glob("events.out.tfevents.*"))
    assert events and events[0].stat().st_size > 0


def test_experiment_is_usable_from_another_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    exp = Experiment("rel")
    assert exp.path == tmp_path / "rel_0"
    monkeypatch.chdir(os.sep)
    assert load_experiment(exp.path).name == "rel"
