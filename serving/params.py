"""Reading `params.yaml`, the single source of every number of the pipeline, into dataclasses.

Serving itself never calls this at scoring time (a bundle carries what the scorer needs);
training and evals both read their sections through it.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """`base` with `override` laid over it, nested mappings merged key by key."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_params(path: str | Path, profile: str | None = None) -> dict[str, Any]:
    """The parameters of `path`, with the overrides of `profiles.<profile>` applied."""
    import yaml  # training and evals extras only

    params = yaml.safe_load(Path(path).read_text())
    profiles = params.pop("profiles", {}) or {}
    if profile:
        if profile not in profiles:
            raise KeyError(f"profile {profile!r} not in {path} (have: {sorted(profiles)})")
        params = deep_merge(params, profiles[profile])
    return params


def from_dict(cls: type[T], values: dict[str, Any]) -> T:
    """Build dataclass `cls` from a mapping, recursing into nested dataclass fields and
    refusing unknown or missing keys so that a typo in params.yaml fails loudly."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = set(values) - names
    if unknown:
        raise KeyError(f"unknown parameters for {cls.__name__}: {sorted(unknown)}")
    kwargs = {}
    for name, value in values.items():
        hint = hints[name]
        if dataclasses.is_dataclass(hint) and isinstance(value, dict):
            value = from_dict(hint, value)
        elif isinstance(hint, types.GenericAlias) and hint.__origin__ is tuple:
            value = tuple(value)
        kwargs[name] = value
    return cls(**kwargs)
