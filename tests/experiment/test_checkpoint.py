"""Checkpoints: exact round trips, no pickle, atomic writes that survive SIGKILL, resume in a new process."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from fireworks import load_checkpoint, save_checkpoint
from fireworks.experiment.checkpoint import MAGIC, decode_state, encode_state, read_checkpoint

ROOT = Path(__file__).resolve().parents[2]


def _equal(a, b) -> bool:
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and np.array_equal(a, b)
    if isinstance(a, dict):
        return (
            isinstance(b, dict)
            and list(a) == list(b)
            and all(type(k) is type(k2) for k, k2 in zip(a, b))
            and all(_equal(a[k], b[k]) for k in a)
        )
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(map(_equal, a, b))
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    return type(a) is type(b) and a == b


def _trained_model_and_optimizer():
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(4, 8), torch.nn.BatchNorm1d(8), torch.nn.Linear(8, 1)
    )
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(3):
        opt.zero_grad()
        model(torch.randn(16, 4)).pow(2).mean().backward()
        opt.step()
    return model, opt


def _states():
    model, opt = _trained_model_and_optimizer()
    return {
        "model": model.state_dict(),
        "optimizer": opt.state_dict(),
        "numpy_rng": np.random.default_rng(7).bit_generator.state,
        "legacy_numpy_rng": np.random.RandomState(3).get_state(),
        "torch_rng": torch.get_rng_state(),
        "scalars": {
            "epoch": 3,
            "big": 2**100,
            "neg": -(2**70),
            "nan": float("nan"),
            "inf": -math.inf,
        },
        "nested": {"a": [1, (2, 3), {"b": None, "c": True}], 5: "int key", (1, "x"): "tuple key"},
        "arrays": [
            np.arange(6, dtype=np.int16).reshape(2, 3).T,
            np.array(["ab", "c"]),
            np.float32(2.5),
        ],
        "tensors": [
            torch.randn(2, 3, dtype=torch.float64)[:, 1],
            torch.ones(2, dtype=torch.bfloat16),
            torch.tensor([1 + 2j], dtype=torch.complex64),
            torch.tensor(7),
            torch.empty(0, 5),
            torch.tensor([True, False]),
            torch.tensor([1, 65535]).to(torch.uint16),
            torch.tensor([1, 2**32 - 1]).to(torch.uint32),
            torch.tensor([1, 2**62]).to(torch.uint64),
        ],
        "bytes": b"\x00\x01raw",
    }


@pytest.mark.parametrize("key", list(_states()))
def test_every_kind_of_state_round_trips_exactly(key):
    state = _states()[key]
    assert _equal(state, decode_state(encode_state(state)))


def test_file_format_has_no_pickle_and_refuses_foreign_files(tmp_path):
    path = save_checkpoint(_states(), tmp_path / "all.ckpt")
    data = path.read_bytes()
    assert data.startswith(MAGIC) and b"\x80\x04\x95" not in data[:200]
    pickled = tmp_path / "torch.pt"
    torch.save({"x": 1}, pickled)
    with pytest.raises(ValueError, match="not a Fireworks checkpoint"):
        read_checkpoint(pickled)
    (tmp_path / "cut.ckpt").write_bytes(data[:40])
    with pytest.raises(ValueError, match="corrupt checkpoint"):
        read_checkpoint(tmp_path / "cut.ckpt")


def test_unsupported_values_are_refused_with_their_place(tmp_path):
    with pytest.raises(TypeError, match=r"state\['fn'\] is a builtins.function"):
        save_checkpoint({"ok": 1, "fn": lambda: 1}, tmp_path / "bad.ckpt")
    with pytest.raises(TypeError, match="dtype object"):
        save_checkpoint({"a": np.array([object()])}, tmp_path / "bad.ckpt")
    with pytest.raises(TypeError, match="needs an object with a state_dict"):
        save_checkpoint(42, tmp_path / "bad.ckpt")
    with pytest.raises(TypeError, match="load_state_dict"):
        load_checkpoint(object(), tmp_path / "bad.ckpt")
    assert not list(tmp_path.iterdir())


def test_model_and_optimizer_load_back_into_fresh_objects(tmp_path):
    model, opt = _trained_model_and_optimizer()
    save_checkpoint(model, tmp_path / "model.ckpt")
    save_checkpoint(opt, tmp_path / "opt.ckpt")
    fresh = torch.nn.Sequential(
        torch.nn.Linear(4, 8), torch.nn.BatchNorm1d(8), torch.nn.Linear(8, 1)
    )
    fresh_opt = torch.optim.Adam(fresh.parameters(), lr=0.5)
    assert load_checkpoint(fresh, tmp_path / "model.ckpt") is fresh
    load_checkpoint(fresh_opt, tmp_path / "opt.ckpt")
    assert _equal(fresh.state_dict(), model.state_dict())
    assert _equal(fresh_opt.state_dict(), opt.state_dict())


WRITER_SCRIPT = textwrap.dedent(
    """
    import sys, time, torch
    from fireworks.experiment import checkpoint

    real_parts = checkpoint._encode_parts

    def stalling_parts(state):
        parts = real_parts(state)
        head, big = parts[:-1], memoryview(parts[-1]).cast("B")
        yield from head
        yield big[: len(big) // 2]
        print("writing", flush=True)
        time.sleep(60)
        yield big[len(big) // 2 :]

    checkpoint._encode_parts = stalling_parts
    checkpoint.save_checkpoint({"version": 2, "big": torch.ones(8 * 1024 * 1024)}, sys.argv[1])
    """
)


def test_a_checkpoint_killed_mid_write_leaves_the_previous_one_intact(tmp_path):
    path = tmp_path / "state.ckpt"
    save_checkpoint({"version": 1, "big": torch.zeros(10)}, path)
    script = tmp_path / "writer.py"
    script.write_text(WRITER_SCRIPT)
    proc = subprocess.Popen(
        [sys.executable, str(script), str(path)], stdout=subprocess.PIPE, text=True, cwd=tmp_path
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.strip() == "writing"
        temps = [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
        assert temps and temps[0].stat().st_size > 0  # the new checkpoint is half written
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=30)
    state = read_checkpoint(path)
    assert state["version"] == 1 and torch.equal(state["big"], torch.zeros(10))
    save_checkpoint({"version": 3}, path)  # and the next save still works
    assert read_checkpoint(path) == {"version": 3}


def test_an_exception_mid_write_leaves_no_temp_file(tmp_path, monkeypatch):
    path = tmp_path / "x.ckpt"
    save_checkpoint({"v": 1}, path)

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint({"v": 2}, path)
    monkeypatch.undo()
    assert read_checkpoint(path) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["x.ckpt"]
