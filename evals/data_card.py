"""The data card's model results, written by the report stage from metrics.json: how the
comparators and the served models rank each split and suite, and the checks the datasheet
promises (a keyword baseline that knows the cue words stays <= its limit on held-out phrasing;
the transformer against the zero-shot exemplar baseline on hand-written conversations and held-out
template families, and against TF-IDF on held-out phrasing and hard negatives)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

RESULTS_MD = "model_results.md"
MODELS = ("keyword", "tfidf", "exemplar_zero_shot", "transformer", "metadata", "fused")


def _number(value: object) -> str:
    return "n/a" if value is None else f"{value:.4f}" if isinstance(value, float) else str(value)


def _cell(values: dict | None, one_class: bool) -> str:
    if values is None:
        return "-"
    return f"FPR {_number(values.get('fpr'))}" if one_class else _number(values.get("roc_auc"))


def _verdict(value: float | None, holds: Callable[[float], bool]) -> str:
    return "n/a" if value is None else "holds" if holds(value) else "BROKEN"


def _difference(section: dict, metric: str, base: str = "tfidf") -> float | None:
    """transformer minus `base` on `metric`; None when either is missing."""
    ours, theirs = section.get("transformer", {}).get(metric), section.get(base, {}).get(metric)
    return None if ours is None or theirs is None else ours - theirs


def _checks(metrics: dict, max_keyword_heldout_roc_auc: float) -> list[tuple[str, object, str]]:
    """(check, value, verdict) rows; a check whose numbers are missing says so."""
    heldout, hard = metrics.get("test_heldout", {}), metrics.get("hard_negatives", {})
    keyword = heldout.get("keyword", {}).get("roc_auc")
    auc_gain, fpr_gain = _difference(heldout, "roc_auc"), _difference(hard, "fpr")
    human = _difference(metrics.get("test_human", {}), "roc_auc", "exemplar_zero_shot")
    cv = _difference(metrics.get("template_cv", {}).get("models", {}), "roc_auc", "exemplar_zero_shot")
    return [
        (
            "transformer ROC-AUC above exemplar_zero_shot on test_human (hand-written)",
            human,
            _verdict(human, lambda gain: gain > 0),
        ),
        (
            "transformer ROC-AUC above exemplar_zero_shot on template_cv (held-out template families)",
            cv,
            _verdict(cv, lambda gain: gain > 0),
        ),
        (
            f"keyword ROC-AUC on test_heldout <= {max_keyword_heldout_roc_auc}",
            keyword,
            _verdict(keyword, lambda auc: auc <= max_keyword_heldout_roc_auc),
        ),
        ("transformer ROC-AUC above tfidf on test_heldout", auc_gain, _verdict(auc_gain, lambda gain: gain > 0)),
        (
            "transformer FPR below tfidf on hard_negatives (each at recall >= target on validation)",
            fpr_gain,
            _verdict(fpr_gain, lambda gain: gain < 0),
        ),
    ]


def results_markdown(metrics: dict, max_keyword_heldout_roc_auc: float) -> str:
    """The results as Markdown: ROC-AUC per split and model, FPR on the suites without
    positives, then the checks."""
    splits = metrics.get("evaluation", {}).get("splits", [])
    version = metrics.get("bundle", {}).get("model_version", "n/a")
    lines = [
        "# Model results",
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
    cv = metrics.get("template_cv")
    if cv:
        cells = [_cell(cv["models"].get(m), False) for m in MODELS]
        lines.append(
            f"| template_cv ({cv['folds']} folds) | {cv['n']} | {cv['positives']} | " + " | ".join(cells) + " |"
        )
    lines += ["", "| check | value | verdict |", "| --- | ---: | --- |"]
    checks = _checks(metrics, max_keyword_heldout_roc_auc)
    lines += [f"| {name} | {_number(value)} | {verdict} |" for name, value, verdict in checks]
    return "\n".join(lines) + "\n"


def write_results(metrics: dict, folder: Path, max_keyword_heldout_roc_auc: float) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / RESULTS_MD
    out.write_text(results_markdown(metrics, max_keyword_heldout_roc_auc), encoding="utf-8")
    return out
