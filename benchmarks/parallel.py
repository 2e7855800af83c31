"""Benchmark: the parallel ordered map, prefetch and the hand-off cost, against serial runs and named peers.

Cases (targets from issue 13):

1. A CPU-heavy pure-Python per-batch transform (holds the GIL): ``src.map(fn, workers=2, executor="process")``
   against the serial map: >= 1.6x faster on 2 cores (ratio <= 0.625). Peers on the same transform:
   ``torch.utils.data.DataLoader(num_workers=2)`` (persistent workers) and ``torchdata.nodes.ParallelMapper``
   (2 processes). Timed on warm workers (the pool's start-up is printed separately).
2. ``prefetch(2)`` with a 5 ms/batch producer and a 5 ms/batch consumer: <= 0.6x the serial time.
3. A cheap transform with ``workers=2``: >= 0.95x the serial speed (the map measures the work against the
   hand-off cost and stays in process; its ``plan`` is printed).
4. The per-batch hand-off cost of a 256x8 float32 batch: a round trip through a thread, a process with
   the shared-memory transport (raw bytes in the header at this size), a process with pickling, and Ray,
   in µs; and of a 1 MiB batch (through a shared-memory block) against pickling.
5. The same pipeline with the map on Ray gives identical batches.
6. Host-to-device copies (``prefetch(device="cuda")`` against ``DataLoader(pin_memory=True)``) where CUDA
   is available; skipped (and said so) on CPU-only machines.

    python benchmarks/parallel.py            # full run
    python benchmarks/parallel.py --quick    # a smoke run
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

import torch
from _common import Row, fmt_seconds, parse_args, report, timeit

from fireworks import Message, Source
from fireworks.parallel import ProcessExecutor, get_executor

ROUNDS = 300_000  # pure-Python work per batch (~15-30 ms on a shared 2-core machine)


def busy(m: Message) -> Message:
    acc = 0
    for i in range(ROUNDS):
        acc = (acc * 31 + i) % 1_000_003
    out = Message(m)
    out["x"] = m["x"] * 2 + (acc % 2)
    return out


def cheap(m: Message) -> Message:
    out = Message(m)
    out["x"] = m["x"] * 2
    return out


def identity(m: Any) -> Any:
    return m


def batches(n_batches: int, rows: int = 256) -> Source:
    g = torch.Generator().manual_seed(0)
    data = Message(
        {"x": torch.randn(n_batches * rows, 8, generator=g), "y": torch.arange(n_batches * rows)}
    )
    return Source(data).batch(rows)


class BatchList(torch.utils.data.Dataset):
    """The same batches as a map-style Dataset of Messages (for the DataLoader peer)."""

    def __init__(self, src: Source, fn: Any) -> None:
        self.items = list(src)
        self.fn = fn

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> Message:
        return self.fn(self.items[i])


class SlowProducer(Source):
    """Forward-only batches that take ``delay`` seconds each to produce (I/O-like: the thread sleeps)."""

    def __init__(self, n: int, delay: float) -> None:
        super().__init__()
        self.n, self.delay, self.pos = n, delay, 0

    def __next__(self) -> Message:
        if self.pos >= self.n:
            raise StopIteration
        time.sleep(self.delay)
        self.pos += 1
        return Message({"x": torch.full((4,), float(self.pos))})

    def reset(self) -> None:
        self.pos = 0


def consume(src: Any, delay: float = 0.0) -> int:
    n = 0
    for m in src:
        if delay:
            time.sleep(delay)
        n += len(m)
    return n


def case_cpu_heavy(args: Any, rows: list[Row]) -> None:
    n = 8 if args.quick else 48
    src = batches(n)
    serial = src.map(busy)
    t0 = time.perf_counter()
    pool = ProcessExecutor(2)
    pool.submit(identity, 1).result()
    pool.submit(identity, 1).result()
    startup = time.perf_counter() - t0
    par = src.map(busy, workers=2, executor=pool)
    assert list(par) == list(serial)
    print(f"process pool start-up (2 workers, spawn): {fmt_seconds(startup)}; plan: {par.plan}")
    repeat = 1 if args.quick else 3
    t_serial = timeit(lambda: consume(serial), repeat=repeat, number=1, warmup=0, best=True)
    t_par = timeit(lambda: consume(par), repeat=repeat, number=1, warmup=0, best=True)
    rows.append(Row("CPU-heavy map, 2 processes", t_par, "serial map", t_serial, max_ratio=0.625))
    pool.shutdown()
    # a control for the machine itself: how much faster 2 plain processes run the same work right now
    import multiprocessing as mp

    items = list(src)
    with mp.get_context("spawn").Pool(2) as plain:
        plain.map(busy, items[:2])
        t_pool = timeit(
            lambda: plain.map(busy, items, chunksize=1),
            repeat=repeat,
            number=1,
            warmup=0,
            best=True,
        )
    print(
        f"control: multiprocessing.Pool(2) on the same batches is {t_serial / t_pool:.2f}x the serial speed "
        "now (what 2 processes can get on this machine at this moment)"
    )
    rows.append(
        Row("CPU-heavy map, 2 processes", t_par, "multiprocessing.Pool(2), same work", t_pool)
    )
    tiny = batches(4).map(cheap, workers=2, executor="process", always_parallel=True)
    starts = []
    for _ in range(3):  # a pass by name starts and stops its own workers (forked from a forkserver)
        t0 = time.perf_counter()
        consume(tiny)
        starts.append(time.perf_counter() - t0)
    print(
        "a 4-batch pass with executor='process' by name (workers started and stopped each pass): "
        + ", ".join(fmt_seconds(t) for t in starts)
    )

    loader = torch.utils.data.DataLoader(
        BatchList(src, busy),
        batch_size=None,
        num_workers=2,
        persistent_workers=True,
        multiprocessing_context="spawn",  # fork with the executors' threads alive is unsafe
    )
    consume(loader)  # start its workers
    t_dl = timeit(lambda: consume(loader), repeat=repeat, number=1, warmup=0, best=True)
    rows.append(Row("CPU-heavy map, 2 processes", t_par, "DataLoader(num_workers=2)", t_dl))
    loader = None  # stop its workers
    try:
        from torchdata.nodes import IterableWrapper, ParallelMapper
    except ImportError:
        print("torchdata is not installed (make bench installs it): ParallelMapper skipped")
        return
    items = list(src)

    def torchdata_pass() -> int:
        node = ParallelMapper(
            IterableWrapper(items),
            busy,
            num_workers=2,
            method="process",
        )
        try:
            return consume(node)
        finally:
            node.reset()  # stop its workers
            del node

    t_td = timeit(torchdata_pass, repeat=repeat, number=1, warmup=0, best=True)
    rows.append(
        Row(
            "CPU-heavy map, 2 processes",
            t_par,
            "torchdata ParallelMapper(2 processes)",
            t_td,
            note="peer incl. its worker start",
        )
    )


def case_prefetch(args: Any, rows: list[Row]) -> None:
    n = 20 if args.quick else 100
    delay = 0.005
    serial = SlowProducer(n, delay)
    t_serial = timeit(lambda: consume(serial, delay), repeat=3, number=1, warmup=0, best=True)
    pre = SlowProducer(n, delay).prefetch(2)
    t_pre = timeit(lambda: consume(pre, delay), repeat=3, number=1, warmup=0, best=True)
    rows.append(
        Row("prefetch(2), 5 ms producer + 5 ms consumer", t_pre, "serial", t_serial, max_ratio=0.6)
    )


def case_cheap(args: Any, rows: list[Row]) -> None:
    n = 200 if args.quick else 2000
    src = batches(n, rows=64)
    serial = src.map(cheap)
    par = src.map(cheap, workers=2, executor="process")
    assert list(par) == list(serial)
    repeat = 3 if args.quick else 7
    t_serial = timeit(lambda: consume(serial), repeat=repeat, number=1, warmup=1)
    t_par = timeit(lambda: consume(par), repeat=repeat, number=1, warmup=1)
    print(f"cheap map plan: {par.plan}")
    rows.append(Row("cheap map, workers=2", t_par, "serial map", t_serial, max_ratio=1 / 0.95))


def roundtrip(transport: Any, batch: Message, n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        transport.result(transport.submit(batch))
    return (time.perf_counter() - start) / n


def case_handoff(args: Any, rows: list[Row], ray_ex: Any) -> None:
    from fireworks.parallel import shm
    from fireworks.parallel.mapping import SharedMemoryTransport, Transport

    batch = Message({"x": torch.randn(256, 8)})
    n = 50 if args.quick else 400
    copy = timeit(lambda: shm.unpack(shm.pack(batch)), repeat=5)
    with get_executor("thread", 1) as threads:
        t_thread = roundtrip(Transport(threads, identity), batch, n)
    with ProcessExecutor(1) as proc:
        proc.submit(identity, 1).result()
        shm_t = SharedMemoryTransport(proc, identity)
        roundtrip(shm_t, batch, 5)
        t_shm = roundtrip(shm_t, batch, n)
        t_pickle = roundtrip(Transport(proc, identity), batch, n)
    big = Message({"x": torch.randn(4096, 64)})  # 1 MiB: through a shared-memory block
    with ProcessExecutor(1) as proc:
        proc.submit(identity, 1).result()
        shm_big = SharedMemoryTransport(proc, identity)
        roundtrip(shm_big, big, 3)
        t_shm_big = roundtrip(shm_big, big, max(10, n // 8))
        t_pickle_big = roundtrip(Transport(proc, identity), big, max(10, n // 8))
    rows.append(
        Row(
            "hand-off 4096x64 (1 MiB): process + shared memory",
            t_shm_big,
            "process + pickle",
            t_pickle_big,
        )
    )
    t_ray = None
    if ray_ex is not None:
        ray_t = Transport(ray_ex, identity)
        roundtrip(ray_t, batch, 10)  # start Ray's workers first
        t_ray = roundtrip(ray_t, batch, max(20, n // 4))
    print(
        "hand-off of a 256x8 float32 batch, one round trip each: "
        f"shared-memory pack+unpack alone {copy * 1e6:.0f} µs; thread {t_thread * 1e6:.0f} µs; "
        f"process via the shared-memory transport {t_shm * 1e6:.0f} µs (under 64 KiB the columns go as raw "
        f"bytes in the header); process via pickle {t_pickle * 1e6:.0f} µs"
        + (f"; Ray {t_ray * 1e6:.0f} µs" if t_ray else "")
    )
    rows.append(Row("hand-off 256x8: process + shared memory", t_shm, "process + pickle", t_pickle))
    rows.append(Row("hand-off 256x8: process + shared memory", t_shm, "thread", t_thread))
    if t_ray:
        rows.append(Row("hand-off 256x8: Ray task", t_ray, "process + shared memory", t_shm))


def case_ray_identical(args: Any, ray_ex: Any) -> None:
    data = Message({"x": torch.randn(2048, 8, generator=torch.Generator().manual_seed(1))})
    serial = list(Source(data).shuffle(seed=4).batch(256).map(cheap))
    on_ray = list(
        Source(data)
        .shuffle(seed=4)
        .batch(256)
        .map(cheap, workers=2, executor=ray_ex, always_parallel=True)
    )
    same = len(serial) == len(on_ray) and all(a == b for a, b in zip(serial, on_ray))
    print(
        f"the same pipeline with the map on Ray gives identical batches: {'yes' if same else 'NO'}"
    )
    if not same:
        raise SystemExit("Ray gave different batches")


def case_cuda(args: Any, rows: list[Row]) -> None:
    if not torch.cuda.is_available():
        print("host-to-device copies: skipped, torch.cuda.is_available() is False on this machine")
        return
    n = 20 if args.quick else 200
    data = Message({"x": torch.randn(n * 1024, 256)})
    src = Source(data).batch(1024)

    def ours() -> None:
        for m in src.prefetch(4, device="cuda"):
            m["x"].sum()
        torch.cuda.synchronize()

    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(data["x"]), batch_size=1024, pin_memory=True
    )

    def peer() -> None:
        for (x,) in loader:
            x.to("cuda", non_blocking=True).sum()
        torch.cuda.synchronize()

    t_ours = timeit(ours, repeat=3, number=1)
    t_peer = timeit(peer, repeat=3, number=1)
    rows.append(
        Row("host->device, prefetch(device='cuda')", t_ours, "DataLoader(pin_memory=True)", t_peer)
    )


def main() -> int:
    args = parse_args("the parallel map, prefetch and hand-off costs against serial runs and peers")
    print(
        f"machine: {os.cpu_count()} CPUs (shared with other work: numbers are noisy); torch {torch.__version__}"
    )
    rows: list[Row] = []
    case_cpu_heavy(args, rows)
    case_prefetch(args, rows)
    case_cheap(args, rows)
    ray_ex = None
    try:
        import ray

        ray.init(
            address="local",  # a fresh local instance, even where RAY_ADDRESS names a cluster
            num_cpus=2,
            object_store_memory=200 * 2**20,
            include_dashboard=False,
            log_to_driver=False,
        )
        ray_ex = get_executor("ray", 2)
    except ImportError:
        print(
            "ray is not installed (pip install 'torch-fireworks[ray]'): the Ray cases are skipped"
        )
    try:
        case_handoff(args, rows, ray_ex)
        if ray_ex is not None:
            case_ray_identical(args, ray_ex)
    finally:
        if ray_ex is not None:
            ray_ex.shutdown()
            import ray

            ray.shutdown()
    case_cuda(args, rows)
    ok = report(
        "parallel map, prefetch, hand-off (ratio = fireworks / peer; lower is better)", rows
    )
    return 0 if ok or args.quick else 1


if __name__ == "__main__":
    sys.exit(main())
