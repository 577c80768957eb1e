"""The generate stage: synthetic conversation splits written as JSONL in the record format, and
the data card's tables computed from those records.

Outputs (paths relative to the working directory, as `dvc.yaml` declares them):
- `<paths.synthetic>/<split>.jsonl` for every split and suite of `generate.conversations`;
- `<generate.card_dir>/synthetic_stats.json` and `<generate.card_dir>/synthetic_stats.md`:
  counts per split, signal and group, each signal's share of benign conversations, message
  lengths and escalation timing, which `data_cards/synthetic.md` refers to.

Both are byte-identical for the same parameters: records and tables are built in a fixed
order, with sorted keys and rounded numbers, and carry no time or path of the run.
"""

from __future__ import annotations

import json
import shutil
import statistics
from collections import Counter
from pathlib import Path
from typing import Any

from serving.schema import SIGNALS
from training import chitchat, synthetic
from training.chitchat import chitchat_splits
from training.config import training_params
from training.data import write_jsonl

STATS_JSON = "synthetic_stats.json"
STATS_MD = "synthetic_stats.md"
# The `groups` columns the card counts, in its order.
GROUP_KEYS: tuple[str, ...] = (
    "relationship",
    "hard_negative_kind",
    "escalation",
    "partial",
    "style",
    "identity_mention",
    "reporter_age_band",
    "reporter_gender",
    "reported_age_band",
    "reported_gender",
    "length",
    "phrasing",
    "obfuscation",
    "posing_as_peer",
    "register",
)
LENGTH_BINS: tuple[int, ...] = (10, 20, 30, 40, 50, 60, 70, 80, 90)  # upper bounds of the histogram bins


PROJECT_ROOT = Path(__file__).resolve().parents[1]


def committed_file(relative: str) -> Path:
    """A committed data file: relative to the working directory, else to the project's root."""
    path = Path(relative)
    return path if path.is_file() else PROJECT_ROOT / relative


def generate_stage(params_path: Path, profile: str | None) -> int:
    params, _ = training_params(params_path, profile)
    config = params.generate
    splits = synthetic.generate(config)
    real_benign = chitchat_splits(params.chitchat, params.seed)
    for name, records in splits.items():
        path = params.paths.synthetic / f"{name}.jsonl"
        added = real_benign.get(name, [])
        write_jsonl(path, records + added)
        positives = sum(r["label"] == 1 for r in records)
        print(
            f"{name}: {len(records)} conversations ({positives} risky, {config.suite(name)})"
            f"{f' + {len(added)} benign from {chitchat.SOURCE}' if added else ''} -> {path}"
        )
    suite = params.chitchat.suite_name
    write_jsonl(params.paths.synthetic / f"{suite}.jsonl", real_benign[suite])
    print(f"{suite}: {len(real_benign[suite])} benign conversations from {chitchat.SOURCE}")
    for name, relative in params.committed_splits.items():
        source = committed_file(relative)
        shutil.copyfile(source, params.paths.synthetic / f"{name}.jsonl")
        print(f"{name}: copied from {relative}")
    stats = data_card_stats(config, splits)
    card = Path(config.card_dir)
    card.mkdir(parents=True, exist_ok=True)
    (card / STATS_JSON).write_text(json.dumps(stats, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    (card / STATS_MD).write_text(render_markdown(stats))
    low = [s for s, row in stats["benign_cue_share"].items() if not row["meets_minimum"]]
    print(f"data card tables -> {card / STATS_MD}, {card / STATS_JSON}")
    if low:
        print(f"warning: signals in fewer than {config.min_benign_cue_share:.0%} of benign conversations: {low}")
    return 0


# --------------------------------------------------------------------------- statistics


def _round(value: float) -> float:
    return round(float(value), 4)


def _quantile(values: list[int], q: float) -> float:
    ordered = sorted(values)
    return float(ordered[min(len(ordered) - 1, int(q * len(ordered)))]) if ordered else 0.0


def _summary(values: list[int]) -> dict[str, float]:
    if not values:
        return {"count": 0}
    return {
        "count": len(values),
        "min": min(values),
        "p10": _quantile(values, 0.1),
        "median": float(statistics.median(values)),
        "p90": _quantile(values, 0.9),
        "max": max(values),
        "mean": _round(statistics.fmean(values)),
    }


def _bin(length: int) -> str:
    low = 1
    for high in LENGTH_BINS:
        if length <= high:
            return f"{low}-{high}"
        low = high + 1
    return f">{LENGTH_BINS[-1]}"


def data_card_stats(config: synthetic.SyntheticConfig, splits: dict[str, list[dict]]) -> dict[str, Any]:
    """Every table of the data card, computed from the records themselves."""
    stats: dict[str, Any] = {"seed": config.seed, "splits": {}, "signals": {}, "groups": {}, "lengths": {}}
    for name, records in splits.items():
        risky = [r for r in records if r["label"] == 1]
        benign = [r for r in records if r["label"] == 0]
        stats["splits"][name] = {
            "suite": config.suite(name),
            "conversations": len(records),
            "risky": len(risky),
            "benign": len(benign),
            "hard_negatives": sum(bool(r["groups"]["hard_negative"]) for r in records),
            "opt_out": sum(not r["opt_in"] for r in records),
            "messages": sum(len(r["messages"]) for r in records),
        }
        risky_signals = Counter(s for r in risky for s in r["signals"])
        benign_cues = Counter(s for r in benign for s in r["cues"])
        stats["signals"][name] = {
            s: {
                "risky": risky_signals[s],
                "benign": benign_cues[s],
                "benign_share": _round(benign_cues[s] / len(benign)) if benign else None,
            }
            for s in SIGNALS
        }
        stats["lengths"][name] = {
            label: _summary([len(r["messages"]) for r in records if r["label"] == value])
            for label, value in (("risky", 1), ("benign", 0))
        }
    # A signal's share of benign conversations, in every split but the hard-negative suite
    # (which holds nothing else); the lowest is what the minimum is judged on.
    judged = [n for n in splits if config.suite(n) != "hard_negatives" and stats["splits"][n]["benign"]]
    stats["benign_cue_share"] = {}
    for s in SIGNALS:
        shares = {n: stats["signals"][n][s]["benign_share"] for n in judged}
        lowest = min(shares.values()) if shares else None
        stats["benign_cue_share"][s] = {
            "by_split": shares,
            "lowest": lowest,
            "meets_minimum": lowest is not None and lowest >= config.min_benign_cue_share,
        }
    stats["min_benign_cue_share"] = config.min_benign_cue_share
    for key in GROUP_KEYS:
        table: dict[str, dict[str, list[int]]] = {}
        for name, records in splits.items():
            for r in records:
                value = str(r["groups"].get(key, "none")).lower()
                cell = table.setdefault(value, {}).setdefault(name, [0, 0])
                cell[0 if r["label"] == 1 else 1] += 1
        stats["groups"][key] = {v: {n: table[v].get(n, [0, 0]) for n in splits} for v in sorted(table)}
    histogram: dict[str, dict[str, int]] = {}
    for records in splits.values():
        for r in records:
            row = histogram.setdefault(_bin(len(r["messages"])), {"risky": 0, "benign": 0})
            row["risky" if r["label"] == 1 else "benign"] += 1
    order = [_bin(b) for b in LENGTH_BINS] + [f">{LENGTH_BINS[-1]}"]
    stats["length_histogram"] = {b: histogram.get(b, {"risky": 0, "benign": 0}) for b in order}
    stats["escalation_timing"] = _timing(splits)
    return stats


def _timing(splits: dict[str, list[dict]]) -> dict[str, Any]:
    """Where the first and the last escalation message fall (0-based index), by speed."""
    first: dict[str, list[int]] = {}
    last: dict[str, list[int]] = {}
    for records in splits.values():
        for r in records:
            moves = [i for i, m in enumerate(r["messages"]) if m["signals"]]
            if r["label"] == 1 and moves:
                speed = r["groups"]["escalation"]
                first.setdefault(speed, []).append(moves[0])
                last.setdefault(speed, []).append(moves[-1])
    return {
        speed: {"first_move_index": _summary(first[speed]), "last_move_index": _summary(last[speed])}
        for speed in sorted(first)
    }


# --------------------------------------------------------------------------- markdown


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return [*lines, ""]


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def render_markdown(stats: dict[str, Any]) -> str:
    """The data card's tables as markdown (generated; do not edit by hand)."""
    names = list(stats["splits"])
    out = [
        "# Synthetic data: generated tables",
        "",
        "Written by the generate stage (`training/generate.py`) from the records of every split;",
        f"do not edit by hand. Seed {stats['seed']}. The prose is in [synthetic.md](../synthetic.md).",
        "",
        "## Counts per split",
        "",
    ]
    out += _table(
        ["split", "suite", "conversations", "risky", "benign", "hard negatives", "opt-out", "messages"],
        [
            [
                n,
                s["suite"],
                s["conversations"],
                s["risky"],
                s["benign"],
                s["hard_negatives"],
                s["opt_out"],
                s["messages"],
            ]
            for n, s in stats["splits"].items()
        ],
    )
    minimum = stats["min_benign_cue_share"]
    judged = list(next(iter(stats["benign_cue_share"].values()))["by_split"]) if stats["benign_cue_share"] else []
    out += [
        "## Each signal's share of benign conversations",
        "",
        "Share of benign conversations with at least one message expressing the signal in form",
        "(`cues`), per split; the hard-negative suite holds nothing else and is left out.",
        f"Minimum: {_percent(minimum)}.",
        "",
    ]
    out += _table(
        ["signal", *judged, "lowest", f">= {_percent(minimum)}"],
        [
            [
                s,
                *(_percent(row["by_split"][n]) for n in judged),
                _percent(row["lowest"]),
                "yes" if row["meets_minimum"] else "NO",
            ]
            for s, row in stats["benign_cue_share"].items()
        ],
    )
    out += ["## Conversations per signal", "", "Risky conversations carrying the signal / benign ones showing it.", ""]
    out += _table(
        ["signal", *names],
        [
            [s, *(f"{stats['signals'][n][s]['risky']} / {stats['signals'][n][s]['benign']}" for n in names)]
            for s in SIGNALS
        ],
    )
    out += ["## Conversations per group", "", "Each cell: risky / benign conversations.", ""]
    for key, table in stats["groups"].items():
        out += [f"### {key}", ""]
        out += _table([key, *names], [[v, *(f"{c[n][0]} / {c[n][1]}" for n in names)] for v, c in table.items()])
    out += ["## Conversation length (messages)", ""]
    columns = ["count", "min", "p10", "median", "p90", "max", "mean"]
    out += _table(
        ["split", "label", *columns],
        [[n, label, *(row.get(c, "") for c in columns)] for n in names for label, row in stats["lengths"][n].items()],
    )
    peak = max((max(r.values()) for r in stats["length_histogram"].values()), default=0) or 1
    out += ["All splits together; each `#` is about " + f"{max(1, round(peak / 40))} conversations.", ""]
    out += _table(
        ["messages", "risky", "benign", "risky", "benign"],
        [
            [b, r["risky"], r["benign"], "#" * round(40 * r["risky"] / peak), "#" * round(40 * r["benign"] / peak)]
            for b, r in stats["length_histogram"].items()
        ],
    )
    out += [
        "## Escalation timing",
        "",
        "Index (from 0) of the first and the last escalation message of risky",
        "conversations, by speed.",
        "",
    ]
    out += _table(
        ["speed", "conversations", "first: median", "first: max", "last: median", "last: p90", "last: max"],
        [
            [
                speed,
                t["first_move_index"]["count"],
                t["first_move_index"]["median"],
                t["first_move_index"]["max"],
                t["last_move_index"]["median"],
                t["last_move_index"]["p90"],
                t["last_move_index"]["max"],
            ]
            for speed, t in stats["escalation_timing"].items()
        ],
    )
    return "\n".join(out).rstrip() + "\n"
