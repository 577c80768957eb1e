"""The evaluate stage: every split and suite scored through the served bundle, comparators judged
from the predictions training wrote, then detection, false positives, fairness, early warning,
calibration and the release gate; figures and tables to reports/ and MLflow; the bundle
registered as a model version, `champion` only when every gate passes."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from evals import dvc_outputs, figures, tracking
from evals.availability import availability_section
from evals.calibration import calibration_report, signal_aucs
from evals.config import EvalParams, eval_params
from evals.early_detection import early_report, first_escalation_index
from evals.fairness import fairness_report
from evals.gates import evaluate_gates, verdict
from evals.metrics import (
    Bootstrap,
    average_precision,
    detection_metrics,
    paired_difference,
    point_and_interval,
    roc_auc,
)
from evals.suites import (
    BANDS,
    band_rates,
    external_benign,
    false_positive_row,
    flagged,
    fpr_by_group,
    group_column,
    top_false_positives,
)
from serving.batch import read_conversations
from serving.bundle import FP32, Bundle, load_bundle
from serving.operating import threshold_for_recall
from serving.params import EXPORT_METRICS, PREDICTIONS, read_sources
from serving.progress import Progress
from serving.schema import MODE_CONTENT, MODE_METADATA, SIGNALS, Conversation, labels_of
from serving.scorer import ConversationScore, Scorer

log = logging.getLogger(__name__)

METRICS = "metrics.json"
FIGURES = "figures"
# metrics.json keys that are not splits.
SECTIONS = frozenset(
    {
        "evaluation",
        "export",
        "bundle",
        "false_positives",
        "fairness",
        "fairness_metadata",
        "modes",
        "early_detection",
        "early_detection_sources",
        "calibration",
        "signals",
        "gates",
        "registry",
        "figures",
        "template_cv",
        "calibration_also",
        "metadata_availability",
    }
)
TEMPLATE_CV = "template_cv.jsonl"  # written by the template_cv stage under paths.models


class ScoresConversations(Protocol):
    def score(self, conversations: Sequence[Conversation]) -> list[ConversationScore]: ...


@dataclass(frozen=True)
class LabelledScores:
    """One model's scores on one split, with the true labels."""

    ids: tuple[str, ...]
    labels: np.ndarray
    scores: np.ndarray


def _labelled(conversations: list[Conversation], scores: list[float]) -> LabelledScores:
    return LabelledScores(
        tuple(c.conversation_id for c in conversations),
        np.asarray(labels_of(conversations), dtype=int),
        np.asarray(scores, dtype=np.float64),
    )


@dataclass(frozen=True)
class ScoredSplit:
    """A split scored by the served bundle, with the comparators' scores on its readable records."""

    name: str
    conversations: list[Conversation]
    results: list[ConversationScore]
    comparators: dict[str, LabelledScores]

    @property
    def readable(self) -> list[tuple[Conversation, ConversationScore]]:
        return [(c, r) for c, r in zip(self.conversations, self.results, strict=True) if r.mode == MODE_CONTENT]

    def models(self) -> dict[str, LabelledScores]:
        """`fused` and `transformer` (content-only) on the records with consent to read content,
        `metadata` on every record, and the comparators."""
        readable = self.readable
        return {
            "fused": _labelled([c for c, _ in readable], [r.risk_score for _, r in readable]),
            "transformer": _labelled([c for c, _ in readable], [r.content_score for _, r in readable]),
            "metadata": _labelled(self.conversations, [r.metadata_score for r in self.results]),
            **self.comparators,
        }

    @property
    def labels(self) -> np.ndarray:
        return np.asarray(labels_of(self.conversations), dtype=int)

    @property
    def risk_scores(self) -> np.ndarray:
        return np.asarray([r.risk_score for r in self.results], dtype=np.float64)

    @property
    def bands(self) -> list[str]:
        return [r.risk_band for r in self.results]


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
    """The bundle's alert thresholds for the served scores; for the other models, the highest
    threshold with recall >= `min_recall` on validation (the rule the bundle's bands follow)."""
    thresholds = {
        "fused": bundle.bands(MODE_CONTENT).medium,
        "metadata": bundle.bands(MODE_METADATA).medium,
    }
    for name in validation.keys() - thresholds.keys():
        thresholds[name] = threshold_for_recall(validation[name].labels, validation[name].scores, min_recall)
    return thresholds


# --------------------------------------------------------------------------- scoring


def score_split(
    name: str, conversations: list[Conversation], scorer: ScoresConversations, predictions: Path | None, chunk: int
) -> ScoredSplit:
    """Score `conversations`, `chunk` at a time (a progress line between), and attach every
    comparator that has predictions for this split."""
    progress = Progress(f"{name}: scoring", len(conversations), "conversations", log)
    results = []
    for start in range(0, len(conversations), chunk):
        part = conversations[start : start + chunk]
        results.extend(scorer.score(part))
        progress.advance(len(part))
    progress.close()
    split = ScoredSplit(name, conversations, results, {})
    if predictions is not None and predictions.is_dir():
        ids = split.models()["fused"].ids
        for folder in sorted(p for p in predictions.iterdir() if p.is_dir()):
            path = folder / f"{name}.jsonl"
            if path.is_file():
                split.comparators[folder.name] = baseline_scores(path, ids, conversations)
            else:
                log.warning("%s: no %s predictions for this split", name, folder.name)
    return split


def score_all(params: EvalParams, bundle: Bundle, scorer: ScoresConversations) -> tuple[dict[str, ScoredSplit], dict]:
    """Every split of `evaluate.splits` whose file exists, and the external benign suite; and
    a note of what was missing or rejected."""
    notes: dict = {"missing_splits": [], "rejected": {}}
    scored: dict[str, ScoredSplit] = {}
    for name in [*params.evaluate.splits, *read_sources(params.paths.data)["evaluation_splits"]]:
        if name in SECTIONS:
            raise ValueError(f"split name {name!r} collides with a metrics.json section")
        path = params.paths.data / f"{name}.jsonl"
        if not path.is_file():
            log.warning("%s: %s not found, not scored", name, path)
            notes["missing_splits"].append(name)
            continue
        conversations, rejects = read_conversations(path, bundle.limits)
        notes["rejected"][name] = len(rejects)
        if rejects:
            log.warning("%s: %d records rejected (see the scorer's reasons)", name, len(rejects))
        log.info("%s: scoring %d conversations", name, len(conversations))
        scored[name] = score_split(
            name, conversations, scorer, params.paths.models / PREDICTIONS, params.evaluate.scoring_chunk
        )
    external = params.evaluate.external_benign
    try:
        conversations, rejected = external_benign(external, bundle.limits)
    except ModuleNotFoundError:
        log.warning("chatterbot-corpus is not installed: %s not scored", external.name)
        notes["missing_splits"].append(external.name)
    else:
        notes["rejected"][external.name] = rejected
        print(f"{external.name}: scoring {len(conversations)} conversations")
        scored[external.name] = score_split(external.name, conversations, scorer, None, params.evaluate.scoring_chunk)
    return scored, notes


# --------------------------------------------------------------------------- analysis


def detection_section(
    scored: dict[str, ScoredSplit], thresholds: dict[str, float], params: EvalParams, bootstrap: Bootstrap
) -> dict[str, dict]:
    def served_flags(split: ScoredSplit, model: str) -> np.ndarray | None:
        """The fused score's flags are its bands: a record without account metadata is banded on
        its content score, with thresholds of its own."""
        return flagged([r.risk_band for _, r in split.readable], "medium") if model == "fused" else None

    return {
        name: {
            model: detection_metrics(
                s.labels,
                s.scores,
                thresholds[model],
                bootstrap,
                params.evaluate.precision_at_recall,
                params.evaluate.recall_at_fpr,
                served_flags(split, model),
            )
            for model, s in sorted(split.models().items())
            if model in thresholds
        }
        for name, split in scored.items()
    }


def false_positive_section(scored: dict[str, ScoredSplit], params: EvalParams) -> dict:
    """Served FPR and recall per band on every split; FPR per band by group; the top false positives."""
    confidence = params.evaluate.bootstrap.confidence
    columns = (*params.evaluate.false_positive_groups, "category")
    suites = {params.evaluate.hard_negatives, params.evaluate.robustness, params.evaluate.external_benign.name}
    splits, rows = {}, []
    for name, split in scored.items():
        labels, bands = split.labels, split.bands
        present = [c for c in columns if any(c in conv.groups for conv in split.conversations)]
        splits[name] = {
            "bands": band_rates(labels, bands, confidence),
            "by_group": {  # the suites only: the fairness section breaks the in-distribution test split down
                column: fpr_by_group(labels, bands, group_column(split.conversations, column), confidence)
                for column in (present if name in suites else [])
            },
        }
        if name == params.evaluate.threshold_split:
            continue  # the bands were chosen there: its false positives are not out of sample
        for conversation, result, label in zip(split.conversations, split.results, labels, strict=True):
            if label == 0 and flagged([result.risk_band], "medium")[0]:
                rows.append(false_positive_row(name, conversation, result))
    top = top_false_positives(rows, params.evaluate.top_false_positives)
    return {"splits": splits, "flagged_negatives": len(rows), "top": top}


def fairness_section(
    split: ScoredSplit, scores: np.ndarray, flags: dict[str, np.ndarray], bootstrap: Bootstrap, min_group_size: int
) -> dict:
    """`scores` of every record of `split` and whether each is flagged at each band, over every
    `groups` column; figures resting on fewer than `min_group_size` records are marked small."""
    columns = sorted({k for c in split.conversations for k in c.groups})
    table = fairness_report(
        split.labels,
        scores,
        flags,
        {column: group_column(split.conversations, column) for column in columns},
        bootstrap,
        min_group_size,
    )
    return {"split": split.name, "n": len(split.conversations), "columns": table}


MODES = ("metadata", "transformer", "fused")
# (better, base): metrics.json holds each as `<better>_minus_<base>`.
GAINS = (("fused", "transformer"), ("fused", "metadata"))


def gain_key(better: str, base: str) -> str:
    return f"{better}_minus_{base}"


def modes_section(scored: dict[str, ScoredSplit], bootstrap: Bootstrap) -> dict:
    """The three scoring paths on the same records (those with consent to read content) of
    each split that holds both classes: ROC-AUC and PR-AUC with intervals, and the fused score's
    gain over each path alone with a paired bootstrap interval."""
    ranking = {"roc_auc": roc_auc, "pr_auc": average_precision}
    out: dict = {}
    for name, split in scored.items():
        readable = split.readable
        labels = np.asarray(labels_of([c for c, _ in readable]), dtype=int)
        if labels.size == 0 or labels.min() == labels.max():
            continue
        scores = {
            "metadata": np.asarray([r.metadata_score for _, r in readable]),
            "transformer": np.asarray([r.content_score for _, r in readable]),
            "fused": np.asarray([r.risk_score for _, r in readable]),
        }
        entry: dict = {
            "n": int(labels.size),
            "positives": int(labels.sum()),
            "metadata_only_records": len(split.conversations) - len(readable),
        }
        for model in MODES:
            entry[model] = point_and_interval(ranking, labels, scores[model], bootstrap)
        for better, base in GAINS:
            entry[gain_key(better, base)] = {
                metric: paired_difference(function, labels, scores[better], scores[base], bootstrap)
                for metric, function in ranking.items()
            }
        out[name] = entry
    return out


def calibration_section(split: ScoredSplit, bins: int, bootstrap: Bootstrap) -> dict:
    out: dict = {"split": split.name, "bins": bins}
    for model in ("fused", "transformer", "metadata"):
        s = split.models()[model]
        out[model] = calibration_report(s.labels, s.scores, bins, bootstrap)
    return out


def signals_section(split: ScoredSplit, bootstrap: Bootstrap) -> dict:
    readable = split.readable
    labels = {name: np.asarray([name in c.signals for c, _ in readable], dtype=int) for name in SIGNALS}
    scores = {name: np.asarray([r.signals[name] for _, r in readable], dtype=np.float64) for name in SIGNALS}
    return {"split": split.name, "signals": signal_aucs(labels, scores, bootstrap)}


def early_section(split: ScoredSplit, params: EvalParams, bootstrap: Bootstrap) -> dict:
    config = params.evaluate.early_detection
    readable = split.readable
    report = early_report(
        np.asarray(labels_of([c for c, _ in readable]), dtype=int),
        [r.alert_message_index for _, r in readable],
        [len(c.messages) for c, _ in readable],
        [first_escalation_index([m.signals for m in c.messages]) for c, _ in readable],
        config.erde,
        config.penalty_at_median_length,
        bootstrap,
    )
    return {"split": split.name, **report}


def analyse(
    scored: dict[str, ScoredSplit], thresholds: dict[str, float], params: EvalParams, notes: dict | None = None
) -> dict:
    """Every section of metrics.json that is computed from scores: detection per split (at the
    top level, `{split: {model: metrics}}`), false positives, fairness, calibration, signals,
    early detection, the gates, and how it was all computed (`evaluation`)."""
    config = params.evaluate
    bootstrap = Bootstrap(config.bootstrap.resamples, config.bootstrap.confidence, params.seed)
    metrics: dict = detection_section(scored, thresholds, params, bootstrap)
    metrics["false_positives"] = false_positive_section(scored, params)
    metrics["modes"] = modes_section(scored, bootstrap)
    if config.fairness_split in scored:
        split, small = scored[config.fairness_split], params.gates.min_group_size
        flags = {band: flagged(split.bands, band) for band in BANDS}
        metrics["fairness"] = fairness_section(split, split.risk_scores, flags, bootstrap, small)
        # The path that scores every conversation under end-to-end encryption, at its own alert threshold.
        metadata = split.models()["metadata"].scores
        metadata_flags = {"medium": metadata >= thresholds["metadata"]}
        metrics["fairness_metadata"] = fairness_section(split, metadata, metadata_flags, bootstrap, small)
    if config.calibration.split in scored:
        calibration_split = scored[config.calibration.split]
        metrics["calibration"] = calibration_section(calibration_split, config.calibration.bins, bootstrap)
        metrics["signals"] = signals_section(calibration_split, bootstrap)
    metrics["calibration_also"] = {
        name: calibration_section(scored[name], config.calibration.bins, bootstrap)
        for name in config.calibration.also
        if name in scored
    }
    if config.early_detection.split in scored:
        metrics["early_detection"] = early_section(scored[config.early_detection.split], params, bootstrap)
    # Licensed sources' official test splits (PAN12's: the protocol of Vogt, Leser & Akbik 2021).
    licensed = [s for s in read_sources(params.paths.data).get("early_detection_splits", []) if s in scored]
    if licensed:
        metrics["early_detection_sources"] = {name: early_section(scored[name], params, bootstrap) for name in licensed}
    gates = evaluate_gates(
        metrics,
        params.gates,
        {"hard_negatives": config.hard_negatives, "external_benign": config.external_benign.name},
        config.calibration.split,
    )
    metrics["gates"] = {
        "verdict": verdict(gates),
        "band": params.gates.band,
        "groups": list(params.gates.groups),
        "min_group_size": params.gates.min_group_size,
        "gates": {g.name: g.to_dict() for g in gates},
    }
    metrics["evaluation"] = {
        "splits": list(scored),
        "missing_splits": [],
        "rejected": {},
        **(notes or {}),
        "threshold_split": config.threshold_split,
        "operating_thresholds": thresholds,
        "bootstrap": {
            "resamples": config.bootstrap.resamples,
            "confidence": config.bootstrap.confidence,
            "seed": params.seed,
            "method": "percentile, stratified by label",
        },
        "precision_at_recall_target": config.precision_at_recall,
        "recall_at_fpr_target": config.recall_at_fpr,
    }
    return metrics


def template_cv_section(path: Path, bootstrap: Bootstrap) -> dict | None:
    """ROC-AUC and PR-AUC, with intervals, of each model's out-of-fold scores in the template-family
    cross-validation (training/template_cv.py); None when that stage has not run."""
    if not path.is_file():
        return None
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    labels = np.asarray([r["label"] for r in rows], dtype=int)
    ranking = {"roc_auc": roc_auc, "pr_auc": average_precision}
    models = sorted({m for r in rows for m in r["scores"]})
    return {
        "folds": len({r["fold"] for r in rows}),
        "n": int(labels.size),
        "positives": int(labels.sum()),
        "models": {
            model: point_and_interval(ranking, labels, np.asarray([r["scores"][model] for r in rows]), bootstrap)
            for model in models
        },
    }


def provenance(bundle: Bundle) -> dict:
    return {
        "model_version": bundle.model_version,
        "bundle_sha256": bundle.sha256,
        "training_data_sha256": bundle.manifest["training_data_sha256"],
        "git_commit": bundle.manifest["git_commit"],
        "mlflow_run_id": bundle.manifest["mlflow_run_id"],
        "thresholds": bundle.manifest["thresholds"],
    }


def evaluate(params: EvalParams, scorer: ScoresConversations | None = None) -> tuple[dict, dict[str, ScoredSplit]]:
    """metrics.json's content, and the scored splits (for the figures)."""
    bundle = load_bundle(params.paths.bundle)
    # The fp32 encoder, whatever this machine's CPU: the figures must not depend on where they were
    # computed (int8 agrees within the export gate, `export` in metrics.json).
    scorer = scorer or Scorer.from_bundle(bundle, precision=FP32)
    scored, notes = score_all(params, bundle, scorer)
    if params.evaluate.threshold_split not in scored:
        raise FileNotFoundError(f"the threshold split {params.evaluate.threshold_split} was not scored")
    thresholds = operating_thresholds(
        bundle, scored[params.evaluate.threshold_split].models(), params.thresholds.medium_min_recall
    )
    log.info("metrics with %d-resample bootstrap intervals", params.evaluate.bootstrap.resamples)
    metrics = analyse(scored, thresholds, params, notes)
    bootstrap = Bootstrap(params.evaluate.bootstrap.resamples, params.evaluate.bootstrap.confidence, params.seed)
    if params.evaluate.availability_split in scored:
        log.info("%s again with some and none of its account features", params.evaluate.availability_split)
        metrics["metadata_availability"] = {
            "split": params.evaluate.availability_split,
            **availability_section(
                scored[params.evaluate.availability_split].conversations,
                scorer.score,
                bundle.bands(MODE_METADATA).medium,
                bootstrap,
                params.seed,
            ),
        }
    log.info("template-family CV with bootstrap intervals")
    cv = template_cv_section(params.paths.models / TEMPLATE_CV, bootstrap)
    if cv is not None:
        metrics["template_cv"] = cv
    export_metrics = params.paths.models / EXPORT_METRICS
    if export_metrics.is_file():
        metrics["export"] = json.loads(export_metrics.read_text())
    metrics["bundle"] = provenance(bundle)
    if isinstance(scorer, Scorer):
        metrics["bundle"]["encoder"] = scorer.encoder.precision  # the graph every figure was computed with
    return metrics, scored


def flat_metrics(metrics: dict) -> dict[str, float]:
    """The figures MLflow keeps as metrics: detection per split and model (with interval ends),
    the served band rates, the fairness, calibration and early-warning summaries, the gates."""
    flat: dict[str, float] = {}

    def put(key: str, value: object) -> None:
        if isinstance(value, bool) or (isinstance(value, int | float) and value == value):
            flat[key] = float(value)

    for split in metrics["evaluation"]["splits"]:
        for model, values in metrics.get(split, {}).items():
            for name, value in values.items():
                if isinstance(value, list):
                    put(f"{split}.{model}.{name}_lo", value[0])
                    put(f"{split}.{model}.{name}_hi", value[1])
                else:
                    put(f"{split}.{model}.{name}", value)
    for split, section in metrics.get("false_positives", {}).get("splits", {}).items():
        for band, rates in section["bands"].items():
            put(f"served.{split}.fpr_{band}", rates["fpr"]["value"])
            put(f"served.{split}.recall_{band}", rates["recall"]["value"])
    for section in ("fairness", "fairness_metadata"):
        for column, table in metrics.get(section, {}).get("columns", {}).items():
            for band, value in table["equalized_odds_difference"].items():
                put(f"{section}.{tracking.safe_key(column)}.equalized_odds_difference_{band}", value)
    for split, entry in metrics.get("modes", {}).items():
        for better, base in GAINS:
            for metric, gain in entry[gain_key(better, base)].items():
                put(f"modes.{split}.{gain_key(better, base)}.{metric}", gain["value"])
    for level, paths in metrics.get("metadata_availability", {}).get("levels", {}).items():
        for path in ("metadata", "served"):
            for name in ("roc_auc", "recall", "fpr"):
                put(f"availability.{level}.{path}.{name}", paths[path][name])
    for model, values in metrics.get("calibration", {}).items():
        if isinstance(values, dict):
            put(f"calibration.{model}.ece", values.get("ece"))
            put(f"calibration.{model}.brier", values.get("brier"))
    for split, section in metrics.get("calibration_also", {}).items():
        put(f"calibration.{split}.fused.ece", section["fused"].get("ece"))
    for name, values in metrics.get("signals", {}).get("signals", {}).items():
        put(f"signals.{name}.roc_auc", values["roc_auc"])
    for name, value in metrics.get("early_detection", {}).items():
        put(f"early.{name}", value)
    for model, values in metrics.get("template_cv", {}).get("models", {}).items():
        put(f"template_cv.{model}.roc_auc", values["roc_auc"])
        put(f"template_cv.{model}.pr_auc", values["pr_auc"])
    gates = metrics.get("gates", {})
    put("gates.passed", gates.get("verdict") == "pass")
    for name, gate in gates.get("gates", {}).items():
        put(f"gates.{name}.passed", gate["passed"])
        put(f"gates.{name}.value", gate["value"])
    return flat


def json_safe(value: object) -> object:
    """`value` with every NaN or infinity replaced by null (undefined), so metrics.json is strict JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def _number(value: float | None) -> str:
    return "   n/a" if value is None else f"{value:.4f}"


def _print_summary(metrics: dict, out: Path) -> None:
    for split in metrics["evaluation"]["splits"]:
        for model, values in metrics[split].items():
            print(
                f"{split:>16} {model:>11}: ROC-AUC {_number(values['roc_auc'])} PR-AUC {_number(values['pr_auc'])} "
                f"F0.5 {_number(values['f0_5'])} FPR {_number(values['fpr'])}"
            )
    for model, values in metrics.get("template_cv", {}).get("models", {}).items():
        print(
            f"{'template_cv':>16} {model:>11}: ROC-AUC {_number(values['roc_auc'])} PR-AUC {_number(values['pr_auc'])}"
        )
    gates = metrics["gates"]
    for name, gate in gates["gates"].items():
        value = "n/a" if gate["value"] is None else f"{gate['value']:.4g}"
        print(f"gate {name:>20}: {gate['status']:>7} ({value} {gate['comparison']} {gate['limit']}) {gate['detail']}")
    print(f"release verdict: {gates['verdict'].upper()}")
    registry = metrics.get("registry", {})
    if registry.get("version"):
        print(
            f"registered {registry['name']} version {registry['version']} (candidate); "
            f"champion: {registry.get('champion_version') or 'none'}"
        )
    print(f"metrics: {out}")


def evaluate_stage(params_path: Path, profile: str | None) -> int:
    params = eval_params(params_path, profile)
    metrics, scored = evaluate(params)
    reports = params.paths.reports
    reports.mkdir(parents=True, exist_ok=True)
    log.info("figures")
    metrics["figures"] = figures.draw_all(scored, metrics, reports / FIGURES, reports)
    out = reports / METRICS
    passed = metrics["gates"]["verdict"] == "pass"
    log.info("MLflow: metrics, figures, tables and the registry")
    run_id, registry = tracking.log_evaluation(
        params.mlflow,
        metrics["bundle"]["mlflow_run_id"],
        flat_metrics(metrics),
        figures=reports / FIGURES,
        tables=tracking.tables_of(metrics),
        passed=passed,
        bundle_sha256=metrics["bundle"]["bundle_sha256"],
    )
    metrics["registry"] = {"evaluation_run_id": run_id, **registry}
    out.write_text(json.dumps(json_safe(metrics), indent=2, allow_nan=False))
    tracking.log_file(run_id, out, "evaluation")
    tracked = params.evaluate.dvc_splits
    dvc_summary = dvc_outputs.summary(metrics, tracked, params.evaluate.chitchat_suite)
    (reports / dvc_outputs.SUMMARY).write_text(json.dumps(json_safe(dvc_summary), indent=2, allow_nan=False))
    dvc_outputs.write_plot_data(scored, metrics, tracked, reports / dvc_outputs.PLOTS)
    _print_summary(metrics, out)
    return 0
