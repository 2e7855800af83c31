"""The Source graph: walking it (inputs before consumers, cycles refused), attribute forwarding, and its
pictures (Mermaid ``flowchart`` and Graphviz DOT text, one box per node).

Each box shows the node's name and class; an edge goes from an input to its consumer and carries the
input's name when the consumer has several. Cycles raise :class:`~fireworks.exceptions.CycleError`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from fireworks.exceptions import CycleError, PipelineError

if TYPE_CHECKING:
    from fireworks.sources.base import Source


def _inputs_of(src: Source) -> dict[str, Source]:
    return src.__dict__.get("_inputs", {}) if hasattr(src, "__dict__") else {}


def walk(src: Source) -> Iterator[Source]:
    """Every node upstream of ``src`` (``src`` included) once, inputs before their consumers.

    Raises :class:`~fireworks.exceptions.CycleError` naming the cycle if the graph has one.
    """
    done: set[int] = set()
    on_path: dict[int, int] = {}
    path: list[Source] = []
    order: list[Source] = []
    stack: list[tuple[Source, Iterator[Source]]] = [(src, iter(_inputs_of(src).values()))]
    on_path[id(src)] = 0
    path.append(src)
    while stack:
        node, children = stack[-1]
        child = next(children, None)
        if child is None:
            stack.pop()
            path.pop()
            del on_path[id(node)]
            done.add(id(node))
            order.append(node)
            continue
        if id(child) in done:
            continue
        if id(child) in on_path:
            cycle = [*path[on_path[id(child)] :], child]
            raise CycleError(
                "the Source graph has a cycle: "
                + " <- ".join(n.name for n in cycle)
                + "; a Source cannot (indirectly) be its own input"
            )
        on_path[id(child)] = len(path)
        path.append(child)
        stack.append((child, iter(_inputs_of(child).values())))
    yield from order


def _statically_has(obj: object, name: str) -> bool:
    if name in getattr(obj, "__dict__", ()):
        return True
    return any(name in vars(klass) for klass in type(obj).__mro__)


def find_attribute(src: Source, name: str) -> Any:
    """A public attribute ``src`` lacks, looked up on its inputs: depth-first from ``src``, first match, in
    time linear in the graph (a property of a node that raises is reported, not skipped)."""
    if name.startswith("_"):
        raise AttributeError(
            f"{type(src).__name__!r} object has no attribute {name!r} (private names are never "
            f"looked up on inputs)"
        )
    seen: set[int] = set()
    stack: list[Source] = [src]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if _statically_has(node, name):
            try:
                return type(node).__getattribute__(node, name)
            except AttributeError as err:
                raise PipelineError(
                    f"attribute {name!r} of {node.describe()} raised AttributeError: {err}"
                ) from err
        stack.extend(reversed(_inputs_of(node).values()))
    raise AttributeError(
        f"{type(src).__name__} {src.name!r} has no attribute {name!r}, and none of its inputs "
        f"has one either"
    )


def _edges(src: Source) -> tuple[list[Source], dict[int, str], list[tuple[str, str, str | None]]]:
    nodes = list(walk(src))
    ids = {id(node): f"n{k}" for k, node in enumerate(nodes)}
    edges = []
    for node in nodes:
        ins = _inputs_of(node)
        for key, inp in ins.items():
            edges.append((ids[id(inp)], ids[id(node)], key if len(ins) > 1 else None))
    return nodes, ids, edges


def _label(node: Source) -> str:
    name, kind = node.name, type(node).__name__
    return name if name.startswith(kind) else f"{name} ({kind})"


def to_mermaid(src: Source) -> str:
    """Mermaid text for the graph upstream of ``src`` (paste it into any Mermaid renderer).

    >>> from fireworks import Message, Source
    >>> print(Source(Message({"x": [1]}), name="passthrough").to_mermaid())  # doctest: +ELLIPSIS
    flowchart LR
    ...
    """
    nodes, ids, edges = _edges(src)
    lines = ["flowchart LR"]
    for node in nodes:
        text = _label(node).replace('"', "#quot;")
        lines.append(f'    {ids[id(node)]}["{text}"]')
    for a, b, key in edges:
        lines.append(f"    {a} -->|{key}| {b}" if key else f"    {a} --> {b}")
    return "\n".join(lines) + "\n"


def to_dot(src: Source) -> str:
    """Graphviz DOT text for the graph upstream of ``src`` (render with ``dot -Tsvg``)."""
    nodes, ids, edges = _edges(src)
    lines = ["digraph pipeline {", "    rankdir=LR;", "    node [shape=box];"]
    for node in nodes:
        text = _label(node).replace("\\", "\\\\").replace('"', '\\"')
        lines.append(f'    {ids[id(node)]} [label="{text}"];')
    for a, b, key in edges:
        label = f' [label="{key}"]' if key else ""
        lines.append(f"    {a} -> {b}{label};")
    lines.append("}")
    return "\n".join(lines) + "\n"
