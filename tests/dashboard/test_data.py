"""The dashboard's data functions over real experiment folders (no browser, no Dash)."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from fireworks import Experiment
from fireworks.dashboard import data, hpo, plots
from fireworks.dashboard.paths import UnsafePathError, safe_path
from fireworks.dashboard.sample import make_sample_runs


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("runs")
    make_sample_runs(root, big_rows=5000, trials=6)
    return root


def test_runs_are_listed_with_metrics_status_and_commit(runs: Path) -> None:
    listed = {r.name: r for r in data.list_runs(runs)}
    assert set(listed) == {"search", "big", "broken"}  # nometa_0 has no metadata.json
    search = listed["search"]
    assert search.id == "search_0" and search.iteration == 0
    assert search.description == "a random search over lr and width"
    assert search.status == "running"  # written seconds ago
    assert search.metrics["train.loss"] == pytest.approx(1 / (1 + 199 / 20))
    assert 0 < search.metrics["best.accuracy"] < 1
    later = data.summarise_run(runs, runs / "search_0", now=1e12)
    assert later.status == "finished"
    assert data.filter_runs(list(listed.values()), "RANDOM search") == [search]
    assert data.filter_runs(list(listed.values()), "", status="error") == []


def test_a_run_with_corrupt_metadata_is_listed_with_its_error(tmp_path: Path) -> None:
    with Experiment("good", root=tmp_path):
        pass
    bad = tmp_path / "bad_0"
    bad.mkdir()
    (bad / "metadata.json").write_text("{not json")
    rows = {r.id: r for r in data.list_runs(tmp_path)}
    assert rows["bad_0"].status == "error" and "not valid JSON" in (rows["bad_0"].error or "")
    assert rows["good_0"].error is None
    (tmp_path / "x").mkdir()
    with pytest.raises(data.RunError, match=r"has no metadata\.json"):
        data.open_run(tmp_path, "x")
    with pytest.raises(data.RunError, match="no run folder"):
        data.open_run(tmp_path, "absent")


def test_compare_puts_metrics_side_by_side(runs: Path) -> None:
    summaries = [data.summarise_run(runs, runs / n) for n in ("search_0", "big_0")]
    columns, rows = data.compare_metrics(summaries)
    assert columns == ["metric", "search_0", "big_0"]
    loss = next(r for r in rows if r["metric"] == "train.loss")
    assert loss["big_0"] is None and loss["search_0"] > 0


@pytest.mark.parametrize(
    "attempt",
    [
        "../outside.txt",
        "search_0/../../outside.txt",
        "/etc/passwd",
        "search_0/\x00",
        "..",
        "a/../../x",
    ],
)
def test_paths_outside_root_are_refused(runs: Path, attempt: str) -> None:
    with pytest.raises(UnsafePathError, match=r"root|NUL"):
        safe_path(runs, attempt)


def test_symlinks_out_of_root_are_refused_and_not_listed(tmp_path: Path) -> None:
    root = tmp_path / "root"
    with Experiment("r", root=root) as exp:
        pass
    secret = tmp_path / "secret.txt"
    secret.write_text("secret")
    os.symlink(secret, exp.path / "link.txt")
    os.symlink(tmp_path, exp.path / "dirlink")
    (exp.path / "inside.txt").write_text("fine")
    with pytest.raises(UnsafePathError):
        safe_path(root, "r_0/link.txt")
    with pytest.raises(UnsafePathError):
        data.read_preview(root, "r_0/dirlink/secret.txt")
    elsewhere = tmp_path / "elsewhere"
    with Experiment("outside", root=elsewhere):
        pass
    os.symlink(elsewhere / "outside_0", root / "outside_0")
    os.symlink(elsewhere, root / "group")
    assert [r.id for r in data.list_runs(root)] == ["r_0"]
    names = [f["name"] for f in data.run_files(root, "r_0")]
    assert "inside.txt" in names and "link.txt" not in names
    assert not any("secret" in n for n in names)
    assert data.read_preview(root, "r_0/inside.txt")["text"] == "fine"


def test_file_previews(runs: Path) -> None:
    meta = data.read_preview(runs, "search_0/metadata.json")
    assert meta["kind"] == "json" and json.loads(meta["text"])["name"] == "search"
    assert data.read_preview(runs, "search_0/notes.txt")["text"].startswith("a text file")
    assert data.read_preview(runs, "big_0/big.sqlite")["kind"] == "sqlite"
    broken = runs / "search_0" / "broken.json"
    broken.write_text("{")
    try:
        assert "not valid JSON" in data.read_preview(runs, "search_0/broken.json")["error"]
    finally:
        broken.unlink()


def test_databases_corrupt_ones_give_an_error(runs: Path) -> None:
    assert (
        "cannot be read as SQLite" in data.database_tables(runs, "broken_0/corrupt.sqlite")["error"]
    )
    tables = data.database_tables(runs, "big_0/big.sqlite")["tables"]
    assert [t.name for t in tables] == ["rows"] and tables[0].approx_rows == 5000


def test_pipeline_picture_and_dry_run_report(runs: Path) -> None:
    pics = data.pipeline_pictures(runs, "search_0")
    assert [p["name"] for p in pics] == ["pipeline.mmd"]
    nodes, edges = data.parse_graph(data.read_preview(runs, pics[0]["path"])["text"])
    assert len(nodes) == 4 and len(edges) == 3  # the Message is a node of its own
    layout = data.layer_layout(nodes, edges)
    assert sorted(c for c, _ in layout.values()) == [0, 1, 2, 3]
    dot = 'digraph p {\n    n0 [label="a \\"b\\""];\n    n1 [label="c"];\n    n0 -> n1;\n}\n'
    assert data.parse_graph(dot) == ({"n0": 'a "b"', "n1": "c"}, [("n0", "n1")])
    (report,) = data.dry_run_reports(runs, "search_0")
    assert report["report"]["ok"] is True and len(report["report"]["nodes"]) == 4


def test_plot_specs_save_and_reopen(runs: Path) -> None:
    spec = plots.check_spec(
        {"database": "search_0/logs.sqlite", "table": "train", "y": "loss", "log_y": 1}
    )
    path = data.save_plot_spec(runs, "search_0", "loss-curve", spec)
    assert path == runs / "search_0" / "plots" / "loss-curve.json"
    assert data.saved_plots(runs, "search_0") == ["loss-curve"]
    assert data.load_plot_spec(runs, "search_0", "loss-curve") == spec
    for bad in ("../x", "", "a/b", ".hidden"):
        with pytest.raises(ValueError, match="plot name"):
            data.save_plot_spec(runs, "search_0", bad, spec)
    with pytest.raises(KeyError, match="no saved plot 'nope'"):
        data.load_plot_spec(runs, "search_0", "nope")


def test_spec_checks_name_the_field() -> None:
    with pytest.raises(ValueError, match="plot kind must be one of"):
        plots.check_spec({"kind": "pie"})
    with pytest.raises(ValueError, match="smoothing must be"):
        plots.check_spec({"smoothing": 1.5})
    with pytest.raises(ValueError, match="unknown plot spec fields"):
        plots.check_spec({"colour": "red"})


def test_smoothing_equals_the_plain_ema_loop() -> None:
    rng = random.Random(0)
    values = [rng.random() if rng.random() > 0.2 else float("nan") for _ in range(50)]
    for weight in (0.0, 0.3, 0.9):
        got = plots.smooth(__import__("numpy").array(values), weight)
        last = None
        for v, g in zip(values, got):
            if v == v:
                last = v if last is None else weight * last + (1 - weight) * v
            assert g == pytest.approx(last) if v == v else True


def test_figure_groups_restyles_and_logs() -> None:
    data_ = {"step": [0, 1, 2, 3], "loss": [4.0, 3.0, 2.0, 1.0], "phase": ["a", "a", "b", "b"]}
    spec = {
        "table": "train",
        "y": ["loss"],
        "group": "phase",
        "theme": "plotly_dark",
        "palette": "D3",
        "log_y": True,
        "smoothing": 0.5,
    }
    fig = plots.build_figure(spec, data_)
    assert [t["name"] for t in fig["data"]] == ["phase=a", "phase=b"]
    assert fig["data"][0]["y"] == [4.0, 3.5]  # smoothed within its group
    assert fig["layout"]["yaxis"]["type"] == "log" and fig["layout"]["template"] == "plotly_dark"
    from plotly.colors import qualitative

    assert fig["data"][1]["line"]["color"] == qualitative.D3[1]
    hist = plots.build_figure({"table": "t", "y": ["loss"], "kind": "histogram"}, data_)
    assert hist["data"][0]["type"] == "histogram"
    with pytest.raises(ValueError, match="no column"):
        plots.build_figure({"table": "t", "y": ["zz"]}, data_)


def test_hpo_views_from_the_factory_storage(runs: Path) -> None:
    db = runs / "search_0" / "factory.sqlite"
    assert hpo.has_trials(db) and hpo.studies(db) == ["default"]
    trials = hpo.load_trials(db, "default")
    assert [t["id"] for t in trials] == list(range(6))
    assert all(len(t["reports"]) == 5 for t in trials)
    columns, _rows = hpo.trials_table(trials)
    assert columns[:2] == ["id", "status"] and {"lr", "width", "accuracy"} <= set(columns)
    best = hpo.best_so_far(trials, "accuracy", "maximize")
    values = [t["metrics"]["accuracy"] for t in trials]
    assert best["best"] == [max(values[: i + 1]) for i in range(len(values))]
    worst = hpo.best_so_far(trials, "accuracy", "minimize")
    assert worst["best"][-1] == min(values)
    imp = hpo.importances(trials, "accuracy")
    assert set(imp) == {"lr", "width", "epochs"} and sum(imp.values()) == pytest.approx(1.0)
    assert imp["epochs"] == pytest.approx(0.0, abs=1e-12)  # a constant explains nothing
    assert (
        hpo.guess_direction("accuracy") == "maximize" and hpo.guess_direction("loss") == "minimize"
    )
    par = hpo.parallel_figure(trials, "accuracy")
    assert [d["label"] for d in par["data"][0]["dimensions"]] == [
        "lr",
        "width",
        "epochs",
        "accuracy",
    ]
    slices = hpo.slice_figure(trials, "accuracy")
    assert len(slices["data"]) == 3
    lrs = [t["params"]["lr"] for t in trials]
    assert slices["layout"]["xaxis"]["type"] == ("log" if max(lrs) / min(lrs) >= 100 else "-")
    assert slices["layout"]["xaxis2"]["type"] == "-"  # width: 16..128
    assert len(hpo.report_curves(trials, "loss")) == 6


def test_importance_finds_the_parameter_that_matters() -> None:
    rng = random.Random(1)
    trials = []
    for i in range(80):
        a, b = rng.random(), rng.choice(["x", "y"])
        trials.append(
            {
                "id": i,
                "status": "complete",
                "params": {"a": a, "b": b},
                "metrics": {"m": 10 * a + rng.random() * 0.1},
                "reports": [],
            }
        )
    imp = hpo.importances(trials, "m")
    assert imp["a"] > 0.9 and imp["b"] < 0.1


def test_importing_fireworks_never_imports_dash() -> None:
    code = (
        "import sys, fireworks, fireworks.dashboard, fireworks.dashboard.data, fireworks.dashboard.hpo, "
        "fireworks.dashboard.sqlbrowser, fireworks.dashboard.plots, fireworks.dashboard.cli; "
        "print(any(m == 'dash' or m.startswith('dash.') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_run_summaries_outlive_the_process_until_a_file_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FIREWORKS_DASHBOARD_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "runs"
    with Experiment("r", root=root) as exp:
        exp.log("train", {"loss": 1.0})
    assert data.list_runs(root)[0].metrics["train.loss"] == 1.0
    cache = data.summary_cache_file(root)
    assert cache is not None and cache.is_file()
    assert json.loads(cache.read_text())["runs"]["r_0"]["summary"]["name"] == "r"

    def restart() -> None:  # what a new dashboard process starts from
        data._SUMMARIES.clear()
        data._CACHE_LOADED.clear()

    # the cached summary is used while the files' sizes and times are unchanged: a new process opens no
    # SQLite file (shown here by a change the stat key cannot see, then by one it can)
    meta = exp.path / "metadata.json"
    st = meta.stat()
    text = meta.read_text()
    meta.write_text(text.replace('"r"', '"q"', 1))
    os.utime(meta, ns=(st.st_atime_ns, st.st_mtime_ns))
    restart()
    assert data.list_runs(root)[0].name == "r"
    os.utime(meta, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    restart()
    assert data.list_runs(root)[0].name == "q"
    # a damaged cache file is ignored; an empty setting turns the cache off
    cache.write_text("{not json")
    restart()
    assert data.list_runs(root)[0].name == "q"
    monkeypatch.setenv("FIREWORKS_DASHBOARD_CACHE", "")
    assert data.summary_cache_file(root) is None


def test_the_data_modules_import_neither_dash_nor_optuna() -> None:
    code = (
        "import sys\n"
        "from fireworks.dashboard import data, firstpaint, hpo, hpo_optuna, paths, plots, sqlbrowser\n"
        "print(sorted({m.partition('.')[0] for m in sys.modules} & {'dash', 'optuna', 'flask'}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"
