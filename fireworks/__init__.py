"""Fireworks: the data side of machine learning.

Data travels as a :class:`Message` (a columnar table whose columns can be ``torch.Tensor``) through a lazy
graph of :class:`Source` nodes. Everything public is importable from this module; submodules are imported on
first use, so ``import fireworks`` stays cheap and optional extras (Optuna, Dash, Ray) load only when asked for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fireworks._imports import lazy_exports

__version__ = "0.1.0"

# public name -> module that defines it (imported lazily on first attribute access)
_EXPORTS: dict[str, str] = {
    # errors
    "FireworksError": "fireworks.exceptions",
    "PipelineError": "fireworks.exceptions",
    "CycleError": "fireworks.exceptions",
    "MissingDependencyError": "fireworks.exceptions",
    "CorruptFileError": "fireworks.exceptions",
    # message
    "Message": "fireworks.message",
    # sources
    "Source": "fireworks.sources",
    "FunctionSource": "fireworks.sources",
    "FilterSource": "fireworks.sources",
    "LoopingSource": "fireworks.sources",
    "ShufflerSource": "fireworks.sources",
    "BatchingSource": "fireworks.sources",
    "RepeaterSource": "fireworks.sources",
    "IndexMapSource": "fireworks.sources",
    "AggregatorSource": "fireworks.sources",
    "ToTensorSource": "fireworks.sources",
    "PrefetchSource": "fireworks.sources",
    "ParallelMapSource": "fireworks.sources",
    "FirstReadySource": "fireworks.sources",
    "HostedSource": "fireworks.sources",
    "train_test_split": "fireworks.sources",
    "CSVSource": "fireworks.sources",
    "JSONLinesSource": "fireworks.sources",
    "ParquetSource": "fireworks.sources",
    "DatasetSource": "fireworks.sources",
    "CachingSource": "fireworks.sources",
    "WindowShuffleSource": "fireworks.sources",
    # cache
    "MessageCache": "fireworks.cache",
    "UnlimitedCache": "fireworks.cache",
    "LRUCache": "fireworks.cache",
    "LFUCache": "fireworks.cache",
    # database
    "TableSource": "fireworks.database",
    "DBSource": "fireworks.database",
    # experiment
    "Experiment": "fireworks.experiment",
    "load_experiment": "fireworks.experiment",
    "list_experiments": "fireworks.experiment",
    "save_checkpoint": "fireworks.experiment",
    "load_checkpoint": "fireworks.experiment",
    "dry_run": "fireworks.experiment",
    # parallel
    "get_executor": "fireworks.parallel",
    # factory
    "Factory": "fireworks.factory",
    "Trial": "fireworks.factory",
    "GridGenerator": "fireworks.factory",
    "RandomGenerator": "fireworks.factory",
    "OptunaGenerator": "fireworks.factory",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())


if TYPE_CHECKING:  # pragma: no cover - static imports for type checkers and IDEs
    from fireworks.cache import LFUCache, LRUCache, MessageCache, UnlimitedCache
    from fireworks.database import DBSource, TableSource
    from fireworks.exceptions import (
        CorruptFileError,
        CycleError,
        FireworksError,
        MissingDependencyError,
        PipelineError,
    )
    from fireworks.experiment import (
        Experiment,
        dry_run,
        list_experiments,
        load_checkpoint,
        load_experiment,
        save_checkpoint,
    )
    from fireworks.factory import (
        Factory,
        GridGenerator,
        OptunaGenerator,
        RandomGenerator,
        Trial,
    )
    from fireworks.message import Message
    from fireworks.parallel import get_executor
    from fireworks.sources import (
        AggregatorSource,
        BatchingSource,
        CachingSource,
        CSVSource,
        DatasetSource,
        FilterSource,
        FirstReadySource,
        FunctionSource,
        HostedSource,
        IndexMapSource,
        JSONLinesSource,
        LoopingSource,
        ParallelMapSource,
        ParquetSource,
        PrefetchSource,
        RepeaterSource,
        ShufflerSource,
        Source,
        ToTensorSource,
        WindowShuffleSource,
        train_test_split,
    )
