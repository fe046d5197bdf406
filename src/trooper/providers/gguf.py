"""Read a GGUF file's header for the model's trained context length, without loading the
model (the embedded provider needs its window before the first request)."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any, BinaryIO

import msgspec

# GGUF value types: fixed-size scalars by struct format, then string (8) and array (9).
_SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
_STRING, _ARRAY = 8, 9


class GGUFError(Exception):
    """Not a GGUF file, or a damaged one."""


class GGUFInfo(msgspec.Struct, frozen=True):
    architecture: str
    context_length: int | None  # what the model was trained on


def read_info(path: str | Path) -> GGUFInfo:
    path = Path(path)
    wanted: dict[str, object] = {}
    try:
        with path.open("rb") as f:
            if f.read(4) != b"GGUF":
                raise GGUFError(f"{path} is not a GGUF file")
            (version,) = _unpack(f, "I")
            if version < 2:
                raise GGUFError(f"{path}: GGUF version {version} is too old")
            _tensors, count = _unpack(f, "QQ")
            for _ in range(count):
                key = _string(f)
                (kind,) = _unpack(f, "I")
                arch = wanted.get("general.architecture")
                if key == "general.architecture" or (arch and key == f"{arch}.context_length"):
                    wanted[key] = _value(f, kind)
                    if arch and key == f"{arch}.context_length":
                        break
                else:
                    _skip(f, kind)
    except (OSError, struct.error, UnicodeDecodeError) as exc:
        raise GGUFError(f"cannot read {path}: {exc}") from None
    arch = str(wanted.get("general.architecture", ""))
    length = wanted.get(f"{arch}.context_length")
    return GGUFInfo(
        architecture=arch,
        context_length=int(length) if isinstance(length, int) else None,
    )


def _unpack(f: BinaryIO, fmt: str) -> tuple[Any, ...]:
    fmt = "<" + fmt
    data = f.read(struct.calcsize(fmt))
    return struct.unpack(fmt, data)


def _string(f: BinaryIO) -> str:
    (size,) = _unpack(f, "Q")
    return f.read(size).decode("utf-8")


def _value(f: BinaryIO, kind: int) -> object:
    if kind == _STRING:
        return _string(f)
    if kind in _SCALARS:
        return _unpack(f, _SCALARS[kind])[0]
    _skip(f, kind)
    return None


def _skip(f: BinaryIO, kind: int) -> None:
    if kind == _STRING:
        (size,) = _unpack(f, "Q")
        f.seek(size, 1)
    elif kind == _ARRAY:
        item, count = _unpack(f, "IQ")
        if item in _SCALARS:
            f.seek(struct.calcsize("<" + _SCALARS[item]) * count, 1)
        else:
            for _ in range(count):
                _skip(f, item)
    elif kind in _SCALARS:
        f.seek(struct.calcsize("<" + _SCALARS[kind]), 1)
    else:
        raise GGUFError(f"unknown GGUF value type {kind}")
