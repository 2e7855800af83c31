"""Checkpoints: any ``state_dict`` saved atomically in a safe, pickle-free file format.

The file is ``MAGIC`` + an 8-byte little-endian header length + a JSON header + raw array bytes. The header
is a tree that mirrors the state dict: JSON scalars as themselves, containers and everything else tagged
(``{"t": "dict", ...}``), tensors and arrays as ``dtype``/``shape``/``offset``/``nbytes`` into the data
region. Loading parses JSON and copies bytes, so it can never execute code from the file. Non-string dict
keys (a torch optimiser's parameter ids), tuples, big Python ints (numpy RNG states) and non-finite floats
all round-trip exactly.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import struct
import tempfile
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any, TypeVar

import numpy as np
import torch

from fireworks._columns import TORCH_DTYPES, dtype_name
from fireworks.exceptions import CorruptFileError

MAGIC = b"FWCKPT01"
_ALIGN = 64
_HEADER_LEN = struct.Struct("<Q")

T = TypeVar("T")


class _Encoder:
    """Turns a nested state into a JSON tree plus a list of byte blobs."""

    def __init__(self) -> None:
        self.blobs: list[bytes | memoryview] = []
        self.offset = 0

    def _blob(self, data: bytes | memoryview) -> dict[str, int]:
        pad = -self.offset % _ALIGN
        if pad:
            self.blobs.append(b"\0" * pad)
            self.offset += pad
        entry = {"offset": self.offset, "nbytes": len(data)}
        self.blobs.append(data)
        self.offset += len(data)
        return entry

    def encode(self, value: Any, where: str) -> Any:
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, int):
            return int(value)
        if isinstance(value, float):
            return value if math.isfinite(value) else {"t": "float", "v": repr(value)}
        if isinstance(value, torch.Tensor):
            return self._tensor(value, where)
        if isinstance(value, np.ndarray):
            return self._ndarray(value, where)
        if isinstance(value, np.generic):
            return {**self._ndarray(np.asarray(value), where), "t": "npscalar"}
        if isinstance(value, Mapping):
            keys, values = [], []
            for key, item in value.items():
                keys.append(self.encode(key, f"{where} key {key!r}"))
                values.append(self.encode(item, f"{where}[{key!r}]"))
            return {"t": "dict", "k": keys, "v": values}
        if isinstance(value, list):
            return {
                "t": "list",
                "v": [self.encode(x, f"{where}[{i}]") for i, x in enumerate(value)],
            }
        if isinstance(value, tuple):
            return {
                "t": "tuple",
                "v": [self.encode(x, f"{where}[{i}]") for i, x in enumerate(value)],
            }
        if isinstance(value, (bytes, bytearray)):
            return {"t": "bytes", **self._blob(bytes(value))}
        if isinstance(value, torch.dtype):
            return {"t": "torch.dtype", "v": str(value).removeprefix("torch.")}
        if isinstance(value, torch.Size):
            return {"t": "torch.Size", "v": list(value)}
        raise TypeError(
            f"a checkpoint holds only JSON-compatible scalars/lists/dicts, numpy arrays and torch "
            f"tensors, but {where} is a {type(value).__module__}.{type(value).__qualname__}; make the "
            f"object's state_dict() return its state in those types"
        )

    def _tensor(self, value: torch.Tensor, where: str) -> dict[str, Any]:
        dtype = dtype_name(value.dtype)
        if dtype not in TORCH_DTYPES:
            raise TypeError(
                f"cannot checkpoint {where}: tensor dtype {value.dtype} is not supported"
            )
        if value.is_sparse or value.layout != torch.strided:
            raise TypeError(
                f"cannot checkpoint {where}: only dense tensors are supported; call .to_dense()"
            )
        flat = value.detach().cpu().contiguous().reshape(-1)
        raw = flat.view(torch.uint8).numpy() if flat.numel() else np.empty(0, np.uint8)
        return {"t": "tensor", "dtype": dtype, "shape": list(value.shape), **self._blob(raw.data)}

    def _ndarray(self, value: np.ndarray, where: str) -> dict[str, Any]:
        if value.dtype.hasobject or value.dtype.fields is not None:
            raise TypeError(
                f"cannot checkpoint {where}: numpy dtype {value.dtype} is not a plain numeric/string "
                f"dtype; convert it (e.g. to a list) first"
            )
        arr = value if value.flags.c_contiguous else value.copy(order="C")
        dtype = arr.dtype.newbyteorder("<") if arr.dtype.byteorder == ">" else arr.dtype
        arr = arr.astype(dtype, copy=False)
        return {
            "t": "ndarray",
            "dtype": arr.dtype.str,
            "shape": list(arr.shape),
            **self._blob(arr.reshape(-1).view(np.uint8).data),
        }


class _Decoder:
    def __init__(self, data: memoryview) -> None:
        self.data = data

    def _bytes(self, node: Mapping[str, Any]) -> bytes:
        start, n = int(node["offset"]), int(node["nbytes"])
        if start < 0 or n < 0 or start + n > len(self.data):
            raise ValueError("a blob points outside the file")
        return bytes(self.data[start : start + n])

    def decode(self, node: Any) -> Any:
        if not isinstance(node, dict):
            if isinstance(node, list):
                raise ValueError("untagged list in header")
            return node
        tag = node.get("t")
        if tag == "dict":
            return {self._key(self.decode(k)): self.decode(v) for k, v in zip(node["k"], node["v"])}
        if tag == "list":
            return [self.decode(v) for v in node["v"]]
        if tag == "tuple":
            return tuple(self.decode(v) for v in node["v"])
        if tag == "float":
            return float(node["v"])
        if tag == "tensor":
            dtype = TORCH_DTYPES.get(node["dtype"])
            if dtype is None:
                raise ValueError(f"unknown tensor dtype {node['dtype']!r}")
            raw = bytearray(self._bytes(node))
            flat = (
                torch.frombuffer(raw, dtype=torch.uint8)
                if raw
                else torch.empty(0, dtype=torch.uint8)
            )
            return flat.view(dtype).reshape(node["shape"])
        if tag in ("ndarray", "npscalar"):
            np_dtype = np.dtype(node["dtype"])
            if np_dtype.hasobject:
                raise ValueError("object arrays are never loaded")
            arr = np.frombuffer(self._bytes(node), dtype=np_dtype).reshape(node["shape"]).copy()
            return arr[()] if tag == "npscalar" else arr
        if tag == "bytes":
            return self._bytes(node)
        if tag == "torch.dtype":
            return TORCH_DTYPES[node["v"]]
        if tag == "torch.Size":
            return torch.Size(node["v"])
        raise ValueError(f"unknown node tag {tag!r}")

    @staticmethod
    def _key(key: Any) -> Any:
        return tuple(key) if isinstance(key, list) else key


def encode_state(state: Any) -> bytes:
    """Serialise a nested state (see the module docstring) to the checkpoint byte format."""
    parts = list(_encode_parts(state))
    return b"".join(bytes(p) for p in parts)


def _encode_parts(state: Any) -> list[bytes | memoryview]:
    enc = _Encoder()
    tree = enc.encode(state, "state")
    crc = 0
    for blob in enc.blobs:
        crc = zlib.crc32(blob, crc)
    # the data region's size and CRC-32 let a reader tell a damaged file from a good one
    meta = {"format": 1, "nbytes": enc.offset, "crc32": crc, "tree": tree}
    body = json.dumps(meta, separators=(",", ":")).encode()
    # the header's own CRC-32 (of the JSON without this key) goes last, so a reader checks the exact bytes
    header = body[:-1] + b',"hcrc":%d}' % zlib.crc32(body)
    return [MAGIC, _HEADER_LEN.pack(len(header)), header, *enc.blobs]


def decode_state(data: bytes | bytearray | memoryview, name: str = "the checkpoint") -> Any:
    """Parse bytes written by :func:`encode_state` back into the nested state. Never executes code.

    Damaged bytes (cut short, overwritten, not a checkpoint) raise :class:`CorruptFileError` naming ``name``.
    """
    view = memoryview(data)
    if bytes(view[: len(MAGIC)]) != MAGIC:
        raise CorruptFileError(
            name,
            f"not a Fireworks checkpoint: it does not start with {MAGIC!r}",
            "was it written by save_checkpoint?",
        )
    try:
        return _decode(view)
    except CorruptFileError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, RuntimeError) as err:
        # ValueError covers bad JSON and bytes that are not UTF-8; the rest a header whose tree is broken
        raise CorruptFileError(
            name, f"corrupt checkpoint: {err}", "load an earlier checkpoint or save it again"
        ) from err
    except RecursionError as err:
        raise CorruptFileError(name, "corrupt checkpoint: the header nests too deeply") from err


def _decode(view: memoryview) -> Any:
    start = len(MAGIC) + _HEADER_LEN.size
    if len(view) < start:
        raise ValueError("truncated header (the file was cut short)")
    (n,) = _HEADER_LEN.unpack(view[len(MAGIC) : start])
    if start + n > len(view):
        raise ValueError("truncated header (the file was cut short)")
    raw = bytes(view[start : start + n])
    cut = raw.rfind(b',"hcrc":')
    if cut >= 0 and raw.endswith(b"}"):
        try:
            hcrc = int(raw[cut + 8 : -1])
        except ValueError as err:
            raise ValueError("the header's CRC-32 is not a number (damaged bytes)") from err
        if zlib.crc32(raw[:cut] + b"}") != hcrc:
            raise ValueError("the header's CRC-32 does not match (damaged bytes)")
    try:
        header = json.loads(raw)
    except ValueError as err:  # JSONDecodeError and UnicodeDecodeError
        raise ValueError(f"header is not valid JSON ({err})") from err
    if not isinstance(header, dict) or "tree" not in header:
        raise ValueError("header is not a checkpoint header")
    body = view[start + n :]
    if ("crc32" in header or "hcrc" in header) and cut < 0:
        raise ValueError("the header's CRC-32 is missing (damaged bytes)")
    if "hcrc" in header:  # files written before the CRCs were added have none
        if len(body) != header["nbytes"]:
            raise ValueError(
                f"the data region has {len(body)} bytes but the header says {header['nbytes']} "
                "(the file was cut short or has extra bytes)"
            )
        if zlib.crc32(body) != header["crc32"]:
            raise ValueError("the data region's CRC-32 does not match the header (damaged bytes)")
    return _Decoder(body).decode(header["tree"])


def atomic_write(path: str | os.PathLike[str], chunks: list[bytes | memoryview]) -> None:
    """Write ``chunks`` to ``path`` via a temp file in the same folder, fsync and ``os.replace``.

    A crash at any moment leaves either the old file or the complete new one, never a mix.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            for chunk in chunks:
                f.write(chunk)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(target.parent)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def _state_of(obj: Any) -> Any:
    if hasattr(obj, "state_dict") and callable(obj.state_dict):
        return obj.state_dict()
    if isinstance(obj, Mapping):
        return obj
    raise TypeError(
        f"save_checkpoint needs an object with a state_dict() method (a Source, model, optimiser, "
        f"Factory) or a state dict itself, but got a {type(obj).__qualname__}"
    )


def save_checkpoint(obj: Any, path: str | os.PathLike[str]) -> Path:
    """Save ``obj.state_dict()`` (or a state dict itself) to the file ``path``, atomically.

    The file format is safe (JSON header + raw tensor/array bytes, no pickle); the write goes to a temp file
    in the same folder which replaces ``path`` only once complete, so an interrupted save leaves the
    previous checkpoint intact. Returns the path.

    >>> import torch, tempfile, os
    >>> model = torch.nn.Linear(2, 1)
    >>> path = save_checkpoint(model, os.path.join(tempfile.mkdtemp(), "model.ckpt"))
    >>> load_checkpoint(torch.nn.Linear(2, 1), path).weight.shape
    torch.Size([1, 2])
    """
    state = _state_of(obj)
    atomic_write(path, _encode_parts(state))
    return Path(path)


def read_checkpoint(path: str | os.PathLike[str] | IO[bytes]) -> Any:
    """Return the state dict stored in a checkpoint file (tensors on the CPU)."""
    if hasattr(path, "read"):
        name = getattr(path, "name", None)
        label = str(name) if isinstance(name, (str, os.PathLike)) else "the checkpoint stream"
        return decode_state(path.read(), label)  # type: ignore[union-attr]
    with open(path, "rb") as f:  # type: ignore[arg-type]
        return decode_state(f.read(), os.fspath(path))  # type: ignore[arg-type]


def load_checkpoint(obj: T, path: str | os.PathLike[str] | IO[bytes]) -> T:
    """Load the checkpoint at ``path`` into ``obj`` with ``obj.load_state_dict(...)`` and return ``obj``."""
    if not (hasattr(obj, "load_state_dict") and callable(obj.load_state_dict)):
        raise TypeError(
            f"load_checkpoint needs an object with a load_state_dict() method, but got a "
            f"{type(obj).__qualname__}; use read_checkpoint(path) to get the state dict itself"
        )
    obj.load_state_dict(read_checkpoint(path))
    return obj
