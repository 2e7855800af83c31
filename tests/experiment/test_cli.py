"""``fireworks experiments``, ``fireworks show`` and ``fireworks dry-run`` through the real CLI entry point."""

from __future__ import annotations

import json
import textwrap

import torch

from fireworks import Experiment, Message
from fireworks.cli import main


def _runs(tmp_path):
    root = tmp_path / "runs"
    with Experiment("mnist", root=root, description="baseline cnn") as exp:
        exp.metadata["lr"] = 0.05
        for i in range(3):
            exp.log("train", {"loss": 1.0 / (i + 1)})
        exp.log("preds", Message({"p": torch.rand(4)}))
        with exp.open("notes.txt", "w") as f:
            f.write("hello")
    Experiment("mnist", root=root)
    Experiment("cifar", root=root, description="other")
    return root, exp


def test_experiments_lists_runs_as_a_table(tmp_path, capsys):
    root, _ = _runs(tmp_path)
    assert main(["experiments", str(root)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["name", "iter", "created"]
    body = [line.split()[:2] for line in lines[2:]]
    assert body == [["cifar", "0"], ["mnist", "0"], ["mnist", "1"]]
    assert "baseline cnn" in lines[3]
    assert main(["experiments", str(root), "--name", "cifar"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 3
    assert main(["experiments", str(tmp_path / "missing")]) == 1
    assert "no folder" in capsys.readouterr().err


def test_show_prints_metadata_tables_and_files(tmp_path, capsys):
    _, exp = _runs(tmp_path)
    assert main(["show", str(exp.path)]) == 0
    out = capsys.readouterr().out
    assert "mnist #0" in out and '"lr": 0.05' in out and "baseline cnn" in out
    train = next(line for line in out.splitlines() if " train " in f" {line} ")
    assert train.split()[:3] == ["logs.sqlite", "train", "3"] and "loss" in train
    assert "preds" in out and "notes.txt" in out and "metadata.json" in out
    assert main(["show", str(tmp_path)]) == 1


PIPE = textwrap.dedent(
    """
    import torch
    from fireworks import Message, Source

    def good():
        return Source(Message({"x": torch.arange(40.0)}), name="numbers").batch(8, name="batches")

    def broken():
        return good().map(lambda m: m["missing"], name="lookup")

    def step(batch):
        return batch["x"].mean()
    """
)


def test_dry_run_command(tmp_path, monkeypatch, capsys):
    (tmp_path / "userpipe_cli.py").write_text(PIPE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))

    ok = main(
        ["dry-run", "userpipe_cli:good", "--train-step", "userpipe_cli:step", "--batches", "3"]
    )
    out = capsys.readouterr().out
    assert ok == 0, out
    assert "dry run OK" in out and "batches" in out and "train_step" in out
    assert main(["dry-run", "userpipe_cli:broken", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert not report["ok"]
    assert [n["name"] for n in report["nodes"] if n["status"] == "error"] == ["lookup"]
    assert main(["dry-run", "userpipe_cli"]) == 2
    assert "expected module:function" in capsys.readouterr().err
