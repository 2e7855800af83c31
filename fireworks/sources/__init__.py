"""Sources: the lazy data-flow graph (``Source``) and its toolbox.

The core, one concept per module: ``base`` the Source node and its protocol; ``graph`` walking the graph,
attribute forwarding and pictures; ``indexing`` the index rules; ``errors`` error naming; ``plan`` pass
planning (the one place that picks how a pass reads) and passes; ``fastpaths`` the fast paths and their
laws; ``fanout`` shared reads of a stream; ``epochs`` per-pass epochs of shuffling nodes; ``adapters`` plain
data as Sources. The toolbox: ``transforms`` (one input), ``junctions`` (many), ``caching``, ``io`` (file
readers), ``torch`` (``torch.utils.data`` adapters), ``prefetch`` (background prefetch), ``parallel`` (the
parallel ordered map), ``aio`` (async, hosted and first-ready access), ``device`` (feeding a GPU).
"""

from __future__ import annotations

from fireworks.sources.aio import FirstReadySource, HostedSource
from fireworks.sources.base import (
    IteratorSource,
    MessageSource,
    SequenceSource,
    Source,
    walk,
)
from fireworks.sources.caching import CachingSource, WindowShuffleSource
from fireworks.sources.graph import to_dot, to_mermaid
from fireworks.sources.io import CSVSource, JSONLinesSource, ParquetSource
from fireworks.sources.junctions import AggregatorSource
from fireworks.sources.parallel import ParallelMapSource
from fireworks.sources.prefetch import PrefetchSource
from fireworks.sources.torch import DatasetSource, as_dataset, as_iterable_dataset
from fireworks.sources.transforms import (
    BatchingSource,
    FilterSource,
    FunctionSource,
    IndexMapSource,
    LoopingSource,
    RepeaterSource,
    ShufflerSource,
    ToTensorSource,
    train_test_split,
)

__all__ = [
    "AggregatorSource",
    "BatchingSource",
    "CSVSource",
    "CachingSource",
    "DatasetSource",
    "FilterSource",
    "FirstReadySource",
    "FunctionSource",
    "HostedSource",
    "IndexMapSource",
    "IteratorSource",
    "JSONLinesSource",
    "LoopingSource",
    "MessageSource",
    "ParallelMapSource",
    "ParquetSource",
    "PrefetchSource",
    "RepeaterSource",
    "SequenceSource",
    "ShufflerSource",
    "Source",
    "ToTensorSource",
    "WindowShuffleSource",
    "as_dataset",
    "as_iterable_dataset",
    "to_dot",
    "to_mermaid",
    "train_test_split",
    "walk",
]


def __getattr__(name: str) -> object:
    # CachingSource lives in caching.py (owned with the cache); import it on first use
    if name == "CachingSource":
        from fireworks.sources.caching import CachingSource

        return CachingSource
    raise AttributeError(f"module 'fireworks.sources' has no attribute {name!r}")
