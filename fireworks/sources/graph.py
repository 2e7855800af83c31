"""Pictures of a Source graph: Mermaid ``flowchart`` and Graphviz DOT text, one box per node.

Each box shows the node's name and class; an edge goes from an input to its consumer and carries the
input's name when the consumer has several. Cycles raise :class:`~fireworks.exceptions.CycleError`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fireworks.sources.base import _inputs_of, walk

if TYPE_CHECKING:
    from fireworks.sources.base import Source


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
