"""Dry runs: pull a small slice through every node of a pipeline before the long run starts.

:func:`dry_run` visits the nodes of a Source graph inputs-first; for each it starts a fresh pass (``iter``),
pulls at most ``batches`` Messages or ``rows`` rows, and records wall time, Messages and rows produced and the
output schema. Because nodes are visited inputs-first, the first error reported is raised by the node that is
actually broken, not by a consumer that merely passed it on. The pipeline's state is restored afterwards, so
a dry run does not move cursors or consume random numbers of the real run.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from fireworks.exceptions import PipelineError


@dataclass
class NodeReport:
    """What one node did in a dry run."""

    name: str
    kind: str
    seconds: float = 0.0
    self_seconds: float = 0.0
    messages: int = 0
    rows: int = 0
    schema: dict[str, str] = field(default_factory=dict)
    status: str = "ok"  # "ok", "error" or "skipped"
    error: str | None = None
    traceback: str | None = None
    note: str = ""  # what the node decided (a parallel map: in process or parallel, and why)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class DryRunReport:
    """The result of :func:`dry_run`: one :class:`NodeReport` per node (inputs first) and the first error.

    ``print(report)`` shows a table; ``report.ok`` is True when nothing failed; ``report.raise_for_error()``
    raises a :class:`~fireworks.exceptions.PipelineError` naming the failing node.
    """

    nodes: list[NodeReport]
    seconds: float
    train_step: NodeReport | None = None

    @property
    def ok(self) -> bool:
        return self.first_error is None

    @property
    def first_error(self) -> NodeReport | None:
        """The report of the first node that failed (or of the train step), else None."""
        for node in [*self.nodes, *([self.train_step] if self.train_step else [])]:
            if node.status == "error":
                return node
        return None

    def raise_for_error(self) -> None:
        bad = self.first_error
        if bad is not None:
            raise PipelineError(f"dry run failed at {bad.name!r} ({bad.kind}): {bad.error}")

    def __getitem__(self, name: str) -> NodeReport:
        for node in self.nodes:
            if node.name == name:
                return node
        if self.train_step is not None and name == self.train_step.name:
            return self.train_step
        raise KeyError(
            f"no node named {name!r} in this dry run; nodes: {[n.name for n in self.nodes]}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "seconds": self.seconds,
            "nodes": [n.to_dict() for n in self.nodes],
            "train_step": self.train_step.to_dict() if self.train_step else None,
        }

    def __str__(self) -> str:
        header = ("node", "class", "status", "ms", "self ms", "msgs", "rows", "schema")
        lines = []
        for n in [*self.nodes, *([self.train_step] if self.train_step else [])]:
            schema = ", ".join(f"{k}: {v}" for k, v in n.schema.items())
            lines.append(
                (
                    n.name,
                    n.kind,
                    n.status,
                    f"{n.seconds * 1e3:.1f}",
                    f"{n.self_seconds * 1e3:.1f}",
                    str(n.messages),
                    str(n.rows),
                    schema if len(schema) <= 70 else schema[:67] + "...",
                )
            )
        widths = [max(len(r[i]) for r in [header, *lines]) for i in range(len(header))]
        fmt = "  ".join(f"{{:{w}}}" for w in widths)
        out = [fmt.format(*header), fmt.format(*("-" * w for w in widths))]
        out += [fmt.format(*r) for r in lines]
        out += [f"{n.name}: {n.note}" for n in self.nodes if n.note]
        verdict = "OK" if self.ok else "FAILED"
        out.append(f"dry run {verdict} in {self.seconds:.3f} s")
        bad = self.first_error
        if bad is not None:
            out.append(f"first error at {bad.name!r} ({bad.kind}): {bad.error}")
            if bad.traceback:
                out.append(bad.traceback.rstrip())
        return "\n".join(out)

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:  # pragma: no cover - IPython
        p.text(str(self))


def _schema(msg: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for name in getattr(msg, "columns", []):
        col = msg[name]
        if isinstance(col, torch.Tensor):
            shape = "x".join(str(s) for s in col.shape[1:])
            dtype = str(col.dtype).removeprefix("torch.")
            out[name] = f"tensor[{dtype}]" + (f"({shape})" if shape else "")
        else:
            out[name] = f"vector[{getattr(col, 'dtype', type(col).__name__)}]"
    return out


def _short_traceback(err: BaseException, limit: int = 6) -> str:
    frames = traceback.extract_tb(err.__traceback__)[-limit:]
    lines = [f"  {f.filename}:{f.lineno} in {f.name}: {f.line or ''}".rstrip() for f in frames]
    root = err
    while root.__cause__ is not None:
        root = root.__cause__
        frames = traceback.extract_tb(root.__traceback__)[-limit:]
        lines += ["  caused by:"]
        lines += [f"  {f.filename}:{f.lineno} in {f.name}: {f.line or ''}".rstrip() for f in frames]
    return "\n".join(lines)


def _nodes(pipeline: Any) -> list[Any]:
    nodes = getattr(pipeline, "nodes", None)
    if callable(nodes):
        return list(nodes())
    order: list[Any] = []
    seen: set[int] = set()

    def visit(node: Any) -> None:
        if id(node) in seen:
            return
        seen.add(id(node))
        for inp in getattr(node, "inputs", {}).values():
            visit(inp)
        order.append(node)

    visit(pipeline)
    return order


def _node_name(node: Any) -> str:
    return str(getattr(node, "name", None) or type(node).__name__)


def _timed(report: NodeReport, fn: Callable[[], Any]) -> tuple[bool, Any]:
    report.status, report.error = "ok", None
    t0 = time.perf_counter()
    try:
        value = fn()
        ok = True
    except Exception as err:
        report.status = "error"
        report.error = f"{type(err).__name__}: {err}"
        report.traceback = _short_traceback(err)
        value, ok = None, False
    report.seconds = report.self_seconds = time.perf_counter() - t0
    return ok, value


def _callable_name(fn: Any) -> str:
    return str(getattr(fn, "__name__", None) or type(fn).__name__)


def _is_factory(obj: Any) -> bool:
    return all(callable(getattr(obj, a, None)) for a in ("trainer", "evaluator", "generator"))


def _dry_run_factory(factory: Any) -> DryRunReport:
    """One trial in this process: generator -> trainer -> evaluator, nothing recorded in the storage."""
    start = time.perf_counter()
    gen = factory.generator
    saved = gen.state_dict() if callable(getattr(gen, "state_dict", None)) else None
    reports = [
        NodeReport(
            n, _callable_name(getattr(factory, n)), status="skipped", error="an earlier step failed"
        )
        for n in ("generator", "trainer", "evaluator")
    ]
    try:
        ok, params = _timed(reports[0], lambda: gen(list(factory.history())))
        if ok and params is None:
            reports[0].status, reports[0].error = "error", "the generator proposed no params (None)"
            ok = False
        if ok:
            reports[0].schema = {k: type(v).__name__ for k, v in params.items()}
            ok, model = _timed(reports[1], lambda: factory.trainer(params))
        if ok:
            reports[1].schema = {"model": type(model).__name__}
            ok, metrics = _timed(reports[2], lambda: dict(factory.evaluator(model, params)))
            if ok:
                reports[2].schema = {k: type(v).__name__ for k, v in metrics.items()}
    finally:
        if saved is not None:
            gen.load_state_dict(saved)
    return DryRunReport(reports, time.perf_counter() - start)


def dry_run(
    pipeline: Any,
    rows: int = 256,
    batches: int = 2,
    train_step: Callable[[Any], Any] | None = None,
) -> DryRunReport:
    """Pull a small slice through every node of ``pipeline`` and report timings, schemas and the first error.

    Each node (inputs first) gets a fresh pass that stops after ``batches`` Messages or ``rows`` rows,
    whichever comes first. ``seconds`` includes the node's inputs; ``self_seconds`` subtracts them. Nodes
    downstream of a failure are ``"skipped"``. With ``train_step``, the first Message of the last node is
    passed to ``train_step(batch)`` (timed and checked the same way). The pipeline's ``state_dict`` is
    restored afterwards. Side effects of nodes (a pass-through ``TableSource`` writing rows) do happen.

    Given a :class:`~fireworks.Factory`, it runs one trial in this process instead (``generator`` ->
    ``trainer`` -> ``evaluator``, each timed and checked, nothing recorded in the Factory's storage).

    >>> from fireworks import Message, Source
    >>> src = Source(Message({"x": list(range(10))})).map(lambda m: m).batch(4)
    >>> report = dry_run(src)
    >>> report.ok, [n.messages for n in report.nodes][-1]
    (True, 2)
    """
    if rows < 1 or batches < 1:
        raise ValueError(
            f"rows and batches must be at least 1, but got rows={rows}, batches={batches}"
        )
    if _is_factory(pipeline):
        return _dry_run_factory(pipeline)
    nodes = _nodes(pipeline)
    saved = None
    if callable(getattr(pipeline, "state_dict", None)):
        try:
            saved = pipeline.state_dict()
        except Exception:
            saved = None
    start = time.perf_counter()
    reports: list[NodeReport] = []
    by_id: dict[int, NodeReport] = {}
    failed: set[int] = set()
    first_message: Any = None
    try:
        for node in nodes:
            report = NodeReport(_node_name(node), type(node).__name__)
            reports.append(report)
            by_id[id(node)] = report
            inputs = list(getattr(node, "inputs", {}).values())
            if any(id(i) in failed for i in inputs):
                report.status = "skipped"
                report.error = "an input failed"
                failed.add(id(node))
                continue
            t0 = time.perf_counter()
            try:
                for msg in iter(node):
                    if report.messages == 0:
                        report.schema = _schema(msg)
                        if node is pipeline:
                            first_message = msg
                    report.messages += 1
                    report.rows += len(msg)
                    if report.messages >= batches or report.rows >= rows:
                        break
            except Exception as err:
                report.status = "error"
                report.error = f"{type(err).__name__}: {err}"
                report.traceback = _short_traceback(err)
                failed.add(id(node))
            report.seconds = time.perf_counter() - t0
            report.note = str(getattr(node, "__dict__", {}).get("plan", ""))
            upstream = sum(by_id[id(i)].seconds for i in inputs if id(i) in by_id)
            report.self_seconds = max(0.0, report.seconds - upstream)
        step_report = None
        if train_step is not None:
            step_report = NodeReport("train_step", getattr(train_step, "__name__", "callable"))
            if first_message is None:
                step_report.status = "skipped"
                step_report.error = "the pipeline produced no Message"
            else:
                t0 = time.perf_counter()
                try:
                    train_step(first_message)
                    step_report.messages, step_report.rows = 1, len(first_message)
                except Exception as err:
                    step_report.status = "error"
                    step_report.error = f"{type(err).__name__}: {err}"
                    step_report.traceback = _short_traceback(err)
                step_report.seconds = step_report.self_seconds = time.perf_counter() - t0
    finally:
        if saved is not None:
            pipeline.load_state_dict(saved)
    return DryRunReport(reports, time.perf_counter() - start, step_report)
