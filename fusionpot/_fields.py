"""Check (and normalise) the values of a configuration dataclass by their annotations.

YAML gives strings where users mean numbers (PyYAML reads ``1e-3`` as the string
``"1e-3"``: YAML 1.1 floats need a dot), floats where they mean integers, and so on.
:func:`check_fields` accepts a number written as ``1e-3`` for a float field and an
integral number (``1e3``, ``100.0``) for an integer field, and rejects everything else
with a :class:`~fusionpot.errors.ConfigError` naming the key and the value.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from typing import Any, Union

from fusionpot.errors import ConfigError

__all__ = ["check_fields", "check_value"]


def check_fields(cls: type, values: dict[str, Any], where: str) -> dict[str, Any]:
    """``values`` (keys of the dataclass ``cls``) checked and converted by the field
    annotations; ``where`` prefixes the key in messages (``"training"`` ->
    ``training.lr``). Unknown keys are left for the caller to report."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    prefix = f"{where}." if where else ""
    return {
        key: check_value(hints[key], value, f"{prefix}{key}") if key in names else value
        for key, value in values.items()
    }


def check_value(hint: Any, value: Any, key: str) -> Any:
    """``value`` as the annotation ``hint`` asks (see the module docstring)."""
    converted = _convert(hint, value)
    if converted is _BAD:
        raise ConfigError(f"{key} must be {_describe(hint)}, got {value!r}")
    return converted


_BAD = object()


def _convert(hint: Any, value: Any) -> Any:
    origin = typing.get_origin(hint)
    if hint is Any or hint is typing.Any or origin is dict or hint is dict:
        return value
    if origin in (Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None:
            return None if type(None) in options else _BAD
        for option in options:
            if option is type(None):
                continue
            converted = _convert(option, value)
            if converted is not _BAD:
                return converted
        return _BAD
    if origin is tuple:
        args = typing.get_args(hint)
        if isinstance(value, str) and args and args[0] is str:
            value = [value]
        if not isinstance(value, list | tuple):
            return _BAD
        items = args[:1] * len(value) if len(args) == 2 and args[1] is Ellipsis else args
        if len(items) != len(value):
            return _BAD
        out = tuple(_convert(item, v) for item, v in zip(items, value, strict=True))
        return _BAD if any(v is _BAD for v in out) else out
    if hint is bool:
        return value if isinstance(value, bool) else _BAD
    if hint is int:
        number = _number(value)
        if number is _BAD or not math.isfinite(number) or number != int(number):
            return _BAD
        return int(number)
    if hint is float:
        return _number(value) if _number(value) is _BAD else float(_number(value))
    if hint is str:
        return value if isinstance(value, str) else _BAD
    return value


def _number(value: Any) -> Any:
    """An int or float from a number or a string written as one; ``_BAD`` otherwise."""
    if isinstance(value, bool):
        return _BAD
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            pass
        try:
            return float(value)
        except ValueError:
            return _BAD
    return _BAD


def _describe(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        text = " or ".join(_describe(a) for a in options)
        return f"{text} or null" if type(None) in typing.get_args(hint) else text
    if origin is tuple:
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            return f"a list of {_describe(args[0]).removeprefix('a ').removeprefix('an ')}s"
        return f"a list of {len(args)} {_describe(args[0]).removeprefix('a ')}s"
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string"}.get(
        hint, str(hint)
    )
