"""Small, real datasets that ship inside the package, so examples and the demo never download anything.

``load_digits`` — the UCI "Optical Recognition of Handwritten Digits" test set (E. Alpaydin, C. Kaynak, 1998;
CC BY 4.0; https://archive.ics.uci.edu/dataset/80): 1,797 greyscale 8x8 images of the digits 0-9, each pixel an
integer count 0-16.

``load_docstrings`` — a real text corpus that ships with every Python: the docstrings of public functions and
classes in a fixed set of standard-library modules, labelled with the module they come from.
"""

from __future__ import annotations

import gzip
import importlib
import inspect
from pathlib import Path

import numpy as np

from fireworks.message import Message

_HERE = Path(__file__).resolve().parent

DIGITS_PIXELS = 64


def load_digits(*, images: bool = False) -> Message:
    """The handwritten digits as a Message of 1,797 rows.

    With ``images=False`` (the default) the Message has 64 int64 vector columns ``pixel_0`` … ``pixel_63``
    (row-major) and an int64 ``label`` column — the shape of a table in a database. With ``images=True`` it
    has a float32 tensor column ``image`` of shape ``(n, 8, 8)`` scaled to ``[0, 1]`` and a ``label`` tensor.

    >>> digits = load_digits()
    >>> len(digits), digits.columns[-1]
    (1797, 'label')
    """
    with gzip.open(_HERE / "digits.csv.gz", "rt") as f:
        raw = np.loadtxt(f, delimiter=",", dtype=np.int64)
    pixels, labels = raw[:, :DIGITS_PIXELS], raw[:, DIGITS_PIXELS]
    if images:
        import torch

        image = torch.from_numpy(pixels.reshape(-1, 8, 8).astype(np.float32) / 16.0)
        return Message({"image": image, "label": torch.from_numpy(labels.copy())})
    columns: dict[str, np.ndarray] = {
        f"pixel_{i}": np.ascontiguousarray(pixels[:, i]) for i in range(DIGITS_PIXELS)
    }
    columns["label"] = labels
    return Message(columns)


DOCSTRING_MODULES = ("os", "math", "string", "json", "datetime", "itertools", "random", "re")


def _documented(obj: object) -> str | None:
    doc = inspect.getdoc(obj)
    return doc if doc and len(doc) >= 20 else None


def load_docstrings(
    modules: tuple[str, ...] = DOCSTRING_MODULES, *, methods: bool = False
) -> Message:
    """Docstrings of the public functions and classes of some standard-library modules.

    Columns: ``text`` (str), ``module`` (str) and ``label`` (int64, the index of the module in ``modules``).
    With ``methods=True`` the public methods of each module's own classes are included too (a larger corpus:
    ``load_docstrings(TOPIC_MODULES, methods=True)`` has about 760 rows over 8 classes). The corpus is real
    English technical prose and ships with the interpreter, so it needs no download.

    >>> corpus = load_docstrings()
    >>> sorted(set(corpus["module"]))[:2]
    ['datetime', 'itertools']
    """
    texts: list[str] = []
    owners: list[str] = []
    labels: list[int] = []
    for label, name in enumerate(modules):
        module = importlib.import_module(name)
        found: list[str] = []
        for attr in sorted(dir(module)):
            if attr.startswith("_"):
                continue
            obj = getattr(module, attr)
            if not (inspect.isfunction(obj) or inspect.isbuiltin(obj) or inspect.isclass(obj)):
                continue
            doc = _documented(obj)
            if doc:
                found.append(doc)
            if methods and inspect.isclass(obj) and getattr(obj, "__module__", None) == name:
                for key, member in sorted(vars(obj).items()):
                    if key.startswith("_") or not (
                        inspect.isfunction(member)
                        or inspect.isbuiltin(member)
                        or inspect.ismethoddescriptor(member)
                    ):
                        continue
                    doc = _documented(member)
                    if doc:
                        found.append(doc)
        texts += found
        owners += [name] * len(found)
        labels += [label] * len(found)
    return Message({"text": texts, "module": owners, "label": np.asarray(labels, dtype=np.int64)})


TOPIC_MODULES = ("os", "math", "decimal", "logging", "socket", "inspect", "collections", "pathlib")


__all__ = ["DOCSTRING_MODULES", "TOPIC_MODULES", "load_digits", "load_docstrings"]
