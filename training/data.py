"""Writing conversation splits (JSONL in the record format) and reading them back."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from serving.batch import Reject, read_conversations
from serving.schema import Conversation, Limits

TRAIN, VALIDATION = "train", "validation"


def write_jsonl(path: Path, records: Iterable[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        handle.writelines(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in records)


@dataclass(frozen=True)
class Split:
    name: str
    conversations: list[Conversation]
    rejects: list[Reject]


def read_split(folder: Path, name: str, limits: Limits) -> Split:
    """The valid conversations of `folder/<name>.jsonl` and the reasons for the others."""
    return Split(name, *read_conversations(folder / f"{name}.jsonl", limits))


def split_names(folder: Path) -> list[str]:
    """Every split of a data folder: `train`, `validation` and the evaluation splits and suites."""
    names = sorted(p.stem for p in folder.glob("*.jsonl"))
    for required in (TRAIN, VALIDATION):
        if required not in names:
            raise FileNotFoundError(f"{folder} has no {required}.jsonl")
    return names
