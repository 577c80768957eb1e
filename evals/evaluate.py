"""The evaluate stage: every split scored through the served bundle, the TF-IDF baseline judged
from the predictions training wrote, all models compared at their operating thresholds."""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from evals import tracking
from evals.config import EvalParams, eval_params
from evals.metrics import detection_metrics
from serving.batch import read_conversations
from serving.bundle import Bundle, load_bundle
from serving.operating import threshold_for_recall
from serving.params import EXPORT_METRICS, PREDICTIONS
from serving.schema import MODE_CONTENT, MODE_METADATA, Conversation, labels_of
from serving.scorer import Scorer

log = logging.getLogger(__name__)

METRICS = "metrics.json"


@dataclass(frozen=True)
class LabelledScores:
    """One model's scores on one split, with the true labels."""

    ids: tuple[str, ...]
    labels: np.ndarray
    scores: np.ndarray


def _labelled(conversations: list[Conversation], scores: list[float]) -> LabelledScores:
    return LabelledScores(
        tuple(c.conversation_id for c in conversations),
        np.asarray(labels_of(conversations)),
        np.asarray(scores, dtype=np.float64),
    )


def bundle_scores(scorer: Scorer, conversations: list[Conversation]) -> dict[str, LabelledScores]:
    """`fused` and `transformer` (content-only) on the records with consent to read content,
    `metadata` on every record."""
    results = scorer.score(conversations)
    readable = [(c, r) for c, r in zip(conversations, results, strict=True) if r.mode == MODE_CONTENT]
    return {
        "fused": _labelled([c for c, _ in readable], [r.risk_score for _, r in readable]),
        "transformer": _labelled([c for c, _ in readable], [r.content_score for _, r in readable]),
        "metadata": _labelled(conversations, [r.metadata_score for r in results]),
    }


def baseline_scores(predictions: Path, ids: tuple[str, ...], conversations: list[Conversation]) -> LabelledScores:
    """A comparator's predictions written by training, on the same records as the content models."""
    by_id = {}
    with predictions.open(encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            by_id[row["conversation_id"]] = row["score"]
    missing = [i for i in ids if i not in by_id]
    if missing:
        raise ValueError(f"{predictions} lacks {len(missing)} conversations, e.g. {missing[0]}")
    chosen = {c.conversation_id: c for c in conversations}
    return _labelled([chosen[i] for i in ids], [by_id[i] for i in ids])


def operating_thresholds(bundle: Bundle, validation: dict[str, LabelledScores], min_recall: float) -> dict[str, float]:
    """The bundle's alert thresholds for the served scores; for the comparators, the highest
    threshold with recall >= `min_recall` on validation (the rule the bundle's bands follow)."""
    thresholds = {
        "fused": bundle.bands(MODE_CONTENT).medium,
        "metadata": bundle.bands(MODE_METADATA).medium,
    }
    for name in validation.keys() - thresholds.keys():
        thresholds[name] = threshold_for_recall(validation[name].labels, validation[name].scores, min_recall)
    return thresholds


def evaluate(params: EvalParams) -> dict:
    bundle = load_bundle(params.paths.bundle)
    scorer = Scorer.from_bundle(bundle)
    per_split: dict[str, dict[str, LabelledScores]] = {}
    for split in params.evaluate.splits:
        conversations, rejects = read_conversations(params.paths.data / f"{split}.jsonl", bundle.limits)
        if rejects:
            log.warning("%s: %d records rejected (see the scorer's reasons)", split, len(rejects))
        scores = bundle_scores(scorer, conversations)
        for folder in sorted((params.paths.models / PREDICTIONS).iterdir()):
            predictions = folder / f"{split}.jsonl"
            scores[folder.name] = baseline_scores(predictions, scores["transformer"].ids, conversations)
        per_split[split] = scores
    thresholds = operating_thresholds(
        bundle, per_split[params.evaluate.threshold_split], params.thresholds.medium_min_recall
    )
    metrics: dict = {
        split: {name: detection_metrics(s.labels, s.scores, thresholds[name]) for name, s in sorted(scores.items())}
        for split, scores in per_split.items()
    }
    export_metrics = params.paths.models / EXPORT_METRICS
    if export_metrics.is_file():
        metrics["export"] = json.loads(export_metrics.read_text())
    metrics["bundle"] = {
        "model_version": bundle.model_version,
        "bundle_sha256": bundle.sha256,
        "training_data_sha256": bundle.manifest["training_data_sha256"],
        "git_commit": bundle.manifest["git_commit"],
        "mlflow_run_id": bundle.manifest["mlflow_run_id"],
        "thresholds": bundle.manifest["thresholds"],
    }
    return metrics


def evaluate_stage(params_path: Path, profile: str | None) -> int:
    params = eval_params(params_path, profile)
    metrics = evaluate(params)
    params.paths.reports.mkdir(parents=True, exist_ok=True)
    out = params.paths.reports / METRICS
    out.write_text(json.dumps(metrics, indent=2, allow_nan=True))
    flat = {
        f"{split}.{model}.{name}": value
        for split in params.evaluate.splits
        for model, values in metrics[split].items()
        for name, value in values.items()
        if not math.isnan(value)
    }
    run_id = tracking.log_evaluation(params.mlflow.experiment, metrics["bundle"]["mlflow_run_id"], flat, out)
    for split in params.evaluate.splits:
        for model, values in metrics[split].items():
            print(
                f"{split:>10} {model:>11}: ROC-AUC {values['roc_auc']:.4f} PR-AUC {values['pr_auc']:.4f} "
                f"F0.5 {values['f0_5']:.4f} FPR {values['fpr']:.4f}"
            )
    print(f"metrics: {out} (MLflow run {run_id})")
    return 0
