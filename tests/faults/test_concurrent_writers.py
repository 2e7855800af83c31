"""Four processes writing at once — to a new table (created by whichever comes first) and to an existing
one — lose and duplicate nothing."""

from __future__ import annotations

import multiprocessing as mp
from collections import Counter
from typing import Any

import torch

from fireworks import Experiment, Factory, Message, TableSource, load_experiment, save_checkpoint
from fireworks.experiment.checkpoint import read_checkpoint

WRITERS = 4
BATCHES = 8
ROWS = 25


def _run_all(target: Any, *args: Any) -> None:
    ctx = mp.get_context("fork")
    barrier = ctx.Barrier(WRITERS)
    procs = [ctx.Process(target=target, args=(barrier, w, *args)) for w in range(WRITERS)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(180)
    assert [p.exitcode for p in procs] == [0] * WRITERS


def _check_rows(counts: Counter[str], rows: list[tuple[int, int, int]]) -> None:
    counts["concurrent_writers"] += WRITERS
    counts["rows_checked"] += len(rows)
    have = Counter(rows)
    expected = {(w, b, j) for w in range(WRITERS) for b in range(BATCHES) for j in range(ROWS)}
    lost = len(expected - set(have))
    duplicated = sum(n - 1 for n in have.values() if n > 1)
    counts["lost"] += lost
    counts["duplicated"] += duplicated
    assert (lost, duplicated, set(have) - expected) == (0, 0, set())


def _batch(w: int, b: int) -> dict[str, Any]:
    return {"w": torch.full((ROWS,), w), "b": torch.full((ROWS,), b), "j": torch.arange(ROWS)}


# --- metric logger ----------------------------------------------------------------------------------


def _log(barrier: Any, w: int, path: str) -> None:
    exp = load_experiment(path)
    barrier.wait(timeout=60)
    for b in range(BATCHES):
        exp.log("existing", Message(_batch(w, b)))
        exp.log("fresh", Message(_batch(w, b)))
        for j in range(ROWS):  # rows one by one, with a metric only this writer has
            exp.log("rows", {"w": w, "b": b, "j": j, f"only_{w}": 1.0})
        exp.flush()
    exp.close()


def test_metric_logger(tmp_path, counts):
    with Experiment("together", root=tmp_path) as exp:
        exp.log("existing", {"w": -1, "b": -1, "j": -1})
    _run_all(_log, str(exp.path))
    with load_experiment(exp.path) as again:
        for table in ("existing", "fresh", "rows"):
            m = again.read(table)
            rows = list(zip(m["w"].tolist(), m["b"].tolist(), m["j"].tolist()))
            _check_rows(counts, [r for r in rows if r != (-1, -1, -1)])


# --- TableSource ------------------------------------------------------------------------------------


def _insert(barrier: Any, w: int, url: str, tables: list[str]) -> None:
    barrier.wait(timeout=60)
    for b in range(BATCHES):
        for name in tables:
            with TableSource(name, url) as table:
                table.insert(Message(_batch(w, b)))


def test_table_source(url, table_name, counts):
    existing, fresh = f"{table_name}_old", f"{table_name}_new"
    with TableSource(existing, url) as table:
        table.insert(
            Message({"w": torch.tensor([-1]), "b": torch.tensor([-1]), "j": torch.tensor([-1])})
        )
    try:
        _run_all(_insert, url, [fresh, existing])
        for name in (existing, fresh):
            m = TableSource(name, url).query().all()
            rows = list(zip(m["w"].tolist(), m["b"].tolist(), m["j"].tolist()))
            _check_rows(counts, [r for r in rows if r != (-1, -1, -1)])
    finally:
        import sqlalchemy as sa

        engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        with engine.begin() as conn:
            for name in (existing, fresh):
                conn.execute(sa.text(f"DROP TABLE IF EXISTS {name}"))
        engine.dispose()


# --- Factory storage, metadata, files ---------------------------------------------------------------


def _search(barrier: Any, w: int, storage: str) -> None:
    factory = Factory(
        lambda p: p["x"],
        lambda model, p: {"score": float(model)},
        lambda history: {"x": 1000 * w + len([t for t in history if t.params["x"] // 1000 == w])},
        storage=storage,
        executor="inline",
        progress=False,
    )
    barrier.wait(timeout=60)
    factory.run(max_trials=BATCHES)


def test_factory_storage(tmp_path, counts):
    storage = f"sqlite:///{tmp_path / 'trials.sqlite'}"
    _run_all(_search, storage)
    history = Factory(lambda p: 0, lambda m, p: {}, lambda h: None, storage=storage).history()
    counts["concurrent_writers"] += WRITERS
    counts["rows_checked"] += len(history)
    ids = [t.id for t in history]
    xs = Counter(t.params["x"] for t in history)
    assert ids == list(range(WRITERS * BATCHES)), ids
    lost = WRITERS * BATCHES - len(xs)
    duplicated = sum(n - 1 for n in xs.values())
    counts["lost"] += lost
    counts["duplicated"] += duplicated
    assert (lost, duplicated) == (0, 0)
    assert all(t.status == "complete" and t.metrics["score"] == t.params["x"] for t in history)


def _set_keys(barrier: Any, w: int, path: str) -> None:
    exp = load_experiment(path)
    barrier.wait(timeout=60)
    for b in range(BATCHES):
        exp.metadata[f"w{w}_b{b}"] = [w, b]


def test_experiment_metadata(tmp_path, counts):
    with Experiment("keys", root=tmp_path) as exp:
        pass
    _run_all(_set_keys, str(exp.path))
    meta = load_experiment(exp.path).metadata
    keys = {k for k in meta if k.startswith("w")}
    counts["concurrent_writers"] += WRITERS
    counts["rows_checked"] += len(keys)
    lost = WRITERS * BATCHES - len(keys)
    counts["lost"] += lost
    assert lost == 0
    assert all(meta[f"w{w}_b{b}"] == [w, b] for w in range(WRITERS) for b in range(BATCHES))


def _state(w: int, b: int) -> dict[str, Any]:
    return {"w": w, "b": b, "weight": torch.full((256, 64), float(w * 100 + b))}


def _save(barrier: Any, w: int, folder: str) -> None:
    barrier.wait(timeout=60)
    for b in range(BATCHES):
        save_checkpoint(_state(w, b), f"{folder}/model.ckpt")
        Message(_batch(w, b)).save(f"{folder}/m.arrow")


def test_files_written_by_several_processes_are_one_whole_version(tmp_path, counts):
    _run_all(_save, str(tmp_path))
    state = read_checkpoint(tmp_path / "model.ckpt")
    assert torch.equal(state["weight"], _state(state["w"], state["b"])["weight"])
    m = Message.load(tmp_path / "m.arrow")
    w, b = int(m["w"][0]), int(m["b"][0])
    assert m == Message(_batch(w, b))
    assert not list(tmp_path.glob(".*tmp")), "temporary files must not be left behind"
    counts["concurrent_writers"] += WRITERS
    counts["rows_checked"] += 1 + len(m)
