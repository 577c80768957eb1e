"""The data card's model results, written by the report stage from metrics.json: how the
comparators and the served models rank each split and suite, and the checks the datasheet
promises (a keyword baseline that knows the cue words stays <= its limit on held-out phrasing;
the transformer against TF-IDF on held-out phrasing and hard negatives)."""

from __future__ import annotations

from pathlib import Path

RESULTS_MD = "model_results.md"
MODELS = ("keyword", "tfidf", "transformer", "metadata", "fused")
KEYWORD_HELDOUT_LIMIT = 0.85


def _number(value: object) -> str:
    return "n/a" if value is None else f"{value:.4f}" if isinstance(value, float) else str(value)


def _cell(values: dict | None, one_class: bool) -> str:
    if values is None:
        return "-"
    return f"FPR {_number(values.get('fpr'))}" if one_class else _number(values.get("roc_auc"))


def _checks(metrics: dict) -> list[tuple[str, object, str]]:
    """(check, value, verdict) rows; a check whose numbers are missing says so."""
    heldout, hard = metrics.get("test_heldout", {}), metrics.get("hard_negatives", {})
    rows: list[tuple[str, object, str]] = []
    keyword = heldout.get("keyword", {}).get("roc_auc")
    rows.append(
        (
            f"keyword ROC-AUC on test_heldout <= {KEYWORD_HELDOUT_LIMIT}",
            keyword,
            "n/a" if keyword is None else "holds" if keyword <= KEYWORD_HELDOUT_LIMIT else "BROKEN",
        )
    )
    ours, theirs = heldout.get("transformer", {}).get("roc_auc"), heldout.get("tfidf", {}).get("roc_auc")
    rows.append(
        (
            "transformer ROC-AUC above tfidf on test_heldout",
            None if ours is None or theirs is None else ours - theirs,
            "n/a" if ours is None or theirs is None else "holds" if ours > theirs else "BROKEN",
        )
    )
    ours, theirs = hard.get("transformer", {}).get("fpr"), hard.get("tfidf", {}).get("fpr")
    rows.append(
        (
            "transformer FPR below tfidf on hard_negatives (each at recall >= target on validation)",
            None if ours is None or theirs is None else ours - theirs,
            "n/a" if ours is None or theirs is None else "holds" if ours < theirs else "BROKEN",
        )
    )
    return rows


def results_markdown(metrics: dict) -> str:
    """The results as Markdown: ROC-AUC per split and model, FPR on the suites without
    positives, then the checks."""
    splits = metrics.get("evaluation", {}).get("splits", [])
    version = metrics.get("bundle", {}).get("model_version", "n/a")
    lines = [
        "# Model results on the synthetic data",
        "",
        f"Written by `grooming-risk report` from `reports/metrics.json` (bundle {version}). ROC-AUC on the "
        "records with consent (`metadata`: every record); where a split has no risky conversation, the FPR at each "
        "model's operating threshold: recall >= the target on validation (`fused` and `metadata`: the bundle's "
        "`medium` band, chosen by that rule).",
        "",
        "| split | n | risky | " + " | ".join(MODELS) + " |",
        "| --- | ---: | ---: | " + " | ".join("---:" for _ in MODELS) + " |",
    ]
    for split in splits:
        models = metrics.get(split, {})
        if not models:
            continue
        first = next(iter(models.values()))
        one_class = first.get("roc_auc") is None
        cells = [_cell(models.get(m), one_class) for m in MODELS]
        lines.append(f"| {split} | {first['n']} | {first['positives']} | " + " | ".join(cells) + " |")
    lines += ["", "| check | value | verdict |", "| --- | ---: | --- |"]
    lines += [f"| {name} | {_number(value)} | {verdict} |" for name, value, verdict in _checks(metrics)]
    return "\n".join(lines) + "\n"


def write_results(metrics: dict, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / RESULTS_MD
    out.write_text(results_markdown(metrics), encoding="utf-8")
    return out
