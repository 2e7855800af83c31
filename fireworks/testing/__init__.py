"""Test helpers for people who write Sources (and for Fireworks' own tests).

- :class:`SourceContract`: subclass it in a test module, implement ``make_source``, and pytest runs the
  contract every Source must meet (in the style of optuna's storage tests).
- :func:`check_consumption`: the same items through every way of consuming a Source.
- :func:`check_save_load`: torchdata's save/load-mid-pass sequence (mid-epoch, next epoch, initial state,
  end of epoch).
- :func:`small_sizes`: set the core's internal block/window/lag sizes small, so boundaries show on a few rows.

Importing this module needs pytest only for :class:`SourceContract`'s test methods (they use plain
``assert``), so it is safe to import anywhere.
"""

from __future__ import annotations

from fireworks.testing.sources import (
    SourceContract,
    check_consumption,
    check_save_load,
    reference_items,
    rows,
    small_sizes,
)

__all__ = [
    "SourceContract",
    "check_consumption",
    "check_save_load",
    "reference_items",
    "rows",
    "small_sizes",
]
