"""The exemplar library (`training/exemplars.yaml`): per escalation signal, short messages that
make the move (positive) and benign messages that look alike (near-miss), and ordinary chat
lines (benign). The content model scores each message by its similarity to these, so that what
it knows of a signal comes from the pretrained encoder's semantics and this reviewed list, not
from the generator's templates. `data_cards/exemplars.md` is its datasheet."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from serving.schema import SIGNALS

LIBRARY = Path(__file__).with_name("exemplars.yaml")
KINDS = ("positive", "near_miss")


@dataclass(frozen=True)
class ExemplarLibrary:
    """The exemplar texts in one fixed order, every signal's positives then its near-misses,
    signal after signal, then the benign lines; `ranges` gives each group's [start, end)."""

    version: int
    texts: tuple[str, ...]
    ranges: dict[str, tuple[int, int]]  # "<signal>/<kind>" and "benign"
    sha256: str

    def span(self, signal: str, kind: str) -> tuple[int, int]:
        return self.ranges[f"{signal}/{kind}"]


def load_library(path: Path = LIBRARY) -> ExemplarLibrary:
    """The library at `path`, checked: every signal with positives and near-misses, no empty or
    repeated line."""
    import yaml

    raw_bytes = path.read_bytes()
    raw = yaml.safe_load(raw_bytes)
    signals = raw.get("signals") or {}
    if list(signals) != list(SIGNALS):
        raise ValueError(f"{path}: signals must be exactly {list(SIGNALS)}, in that order")
    texts: list[str] = []
    ranges: dict[str, tuple[int, int]] = {}

    def add(key: str, lines: object) -> None:
        if not isinstance(lines, list) or not lines or not all(isinstance(t, str) and t.strip() for t in lines):
            raise ValueError(f"{path}: {key} must be a non-empty list of non-empty strings")
        ranges[key] = (len(texts), len(texts) + len(lines))
        texts.extend(lines)

    for signal in SIGNALS:
        for kind in KINDS:
            add(f"{signal}/{kind}", signals[signal].get(kind))
    add("benign", raw.get("benign"))
    folded = [t.strip().casefold() for t in texts]
    if len(set(folded)) != len(folded):
        raise ValueError(f"{path}: a line appears twice")
    return ExemplarLibrary(int(raw["version"]), tuple(texts), ranges, hashlib.sha256(raw_bytes).hexdigest())
