"""Search-space distributions shared by the random and Optuna generators."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np


class Distribution:
    """A range of values for one hyperparameter; ``sample(rng)`` draws one JSON-friendly value."""

    def sample(self, rng: np.random.Generator) -> Any:
        raise NotImplementedError


@dataclass(frozen=True)
class Uniform(Distribution):
    """Floats uniformly in ``[low, high]``.

    >>> Uniform(0.0, 1.0).sample(np.random.default_rng(0)) < 1.0
    True
    """

    low: float
    high: float

    def __post_init__(self) -> None:
        if not self.low < self.high:
            raise ValueError(
                f"{type(self).__name__} needs low < high, but got low={self.low}, high={self.high}"
            )

    def sample(self, rng: np.random.Generator) -> float:
        return float(rng.uniform(self.low, self.high))


@dataclass(frozen=True)
class LogUniform(Uniform):
    """Floats whose logarithm is uniform in ``[log low, log high]`` (learning rates, weight decays)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.low <= 0:
            raise ValueError(
                f"LogUniform needs low > 0, but got low={self.low}; use Uniform for ranges with 0"
            )

    def sample(self, rng: np.random.Generator) -> float:
        return float(math.exp(rng.uniform(math.log(self.low), math.log(self.high))))


@dataclass(frozen=True)
class IntUniform(Distribution):
    """Integers uniformly in ``[low, high]`` (both included)."""

    low: int
    high: int

    def __post_init__(self) -> None:
        if not self.low <= self.high:
            raise ValueError(
                f"IntUniform needs low <= high, but got low={self.low}, high={self.high}"
            )

    def sample(self, rng: np.random.Generator) -> int:
        return int(rng.integers(self.low, self.high + 1))


@dataclass(frozen=True)
class Choice(Distribution):
    """One of ``values`` with equal probability (a list in a space means the same)."""

    values: tuple

    def __post_init__(self) -> None:
        if len(self.values) == 0:
            raise ValueError("Choice needs at least one value, but got an empty list")

    def sample(self, rng: np.random.Generator) -> Any:
        return self.values[int(rng.integers(len(self.values)))]


def as_distribution(name: str, spec: Any) -> Distribution:
    """Turn a space entry into a :class:`Distribution`: lists choose, ``(low, high)`` tuples sample a range."""
    if isinstance(spec, Distribution):
        return spec
    if isinstance(spec, list):
        return Choice(tuple(spec))
    if isinstance(spec, tuple) and len(spec) == 2:
        low, high = spec
        if all(isinstance(v, int) and not isinstance(v, bool) for v in spec):
            return IntUniform(low, high)
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in spec):
            return Uniform(float(low), float(high))
    raise TypeError(
        f"space entry {name!r} must be a list (choices), a (low, high) tuple or a distribution such as "
        f"Uniform(0, 1), but got {spec!r}"
    )


def parse_space(space: Any) -> dict[str, Distribution]:
    """Validate a search space: a dict of parameter name → list, ``(low, high)`` or distribution."""
    if not isinstance(space, dict) or not space:
        raise TypeError(f"space must be a non-empty dict of name -> values, but got {space!r}")
    return {str(name): as_distribution(name, spec) for name, spec in space.items()}
