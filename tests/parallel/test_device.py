"""Feeding a device: ``prefetch(depth, device=...)`` and ``to_tensors(device=...)``. The CPU path runs
everywhere; the CUDA path (pinned memory, side stream, non_blocking copies) runs where CUDA is available."""

from __future__ import annotations

import threading

import pytest
import torch

from fireworks import Message, Source
from fireworks.sources.device import DeviceCopier, DevicePrefetchSource

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def pipeline() -> Source:
    n = 50
    data = Message({"x": torch.arange(n, dtype=torch.float32), "s": [f"r{i}" for i in range(n)]})
    return Source(data).shuffle(seed=3).batch(8)


def test_prefetch_to_cpu_gives_the_same_items_and_state() -> None:
    src = pipeline().prefetch(3, device="cpu")
    assert isinstance(src, DevicePrefetchSource)
    ref = pipeline()
    got = src
    for _ in range(2):  # two epochs, the same permutations
        assert list(got) == list(ref)
    assert got[2] == ref[2] and len(got) == len(ref)
    # state mid-epoch
    got.reset()
    ref.reset()
    next(got), next(ref)
    state = got.state_dict()
    fresh = pipeline().prefetch(3, device="cpu")
    fresh.load_state_dict(state)
    assert list(iter(lambda: next(fresh, None), None)) == list(iter(lambda: next(ref, None), None))


def test_prefetch_thread_stops_when_abandoned() -> None:
    before = {t.ident for t in threading.enumerate()}
    it = iter(pipeline().prefetch(2, device="cpu"))
    next(it)
    it.close()
    assert {t.ident for t in threading.enumerate()} <= before


def test_to_tensors_on_cpu_device() -> None:
    m = Message({"x": [1.0, 2.0], "s": ["a", "b"]})
    out = Source(m).to_tensors(device="cpu")[:]
    assert out.tensor_columns == ["x"] and out["x"].device.type == "cpu"


def test_missing_cuda_is_a_clear_error() -> None:
    if torch.cuda.is_available():
        return
    with pytest.raises(RuntimeError, match=r"torch.cuda.is_available\(\) is False"):
        pipeline().prefetch(2, device="cuda")
    with pytest.raises(RuntimeError, match="use device='cpu'"):
        DeviceCopier("cuda:0")


@CUDA
def test_cuda_prefetch_pins_and_copies_on_a_side_stream() -> None:
    ref = list(pipeline())
    src = pipeline().prefetch(2, device="cuda")
    got = list(src)
    assert all(m["x"].is_cuda for m in got)
    assert [m.cpu() for m in got] == ref
    copier = DeviceCopier("cuda")
    moved, event = copier.stage(Message({"x": torch.arange(1000.0)}))
    assert event is not None and copier.pin_memory
    assert torch.equal(copier.ready((moved, event))["x"].cpu(), torch.arange(1000.0))
    t = Source(Message({"x": [1.0, 2.0]})).to_tensors(device="cuda")[:]
    assert t["x"].is_cuda
