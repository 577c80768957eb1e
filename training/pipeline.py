"""The training stages of `dvc.yaml`: each reads params.yaml, does its job, writes its outputs."""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import mlflow
import numpy as np
import onnx
import onnxruntime as ort
import torch
from transformers.utils import logging as transformers_logging

from serving import mlflow_model
from serving.bundle import (
    CONTENT_ONLY,
    CONVERSATION_MODEL,
    ENCODER_FP32_MODEL,
    ENCODER_MODEL,
    EXEMPLARS,
    FP32,
    METADATA_MODEL,
    ONNX_MODELS,
    SIGNATURE,
    TOKENIZER,
    Bands,
    Fusion,
    Platt,
    load_bundle,
    sign_bundle,
    write_manifest,
)
from serving.cli import UsageError
from serving.features import METADATA_FEATURES, has_account_metadata
from serving.operating import threshold_for_recall
from serving.params import EXPORT_METRICS, PREDICTIONS, SYNTHETIC_SOURCE, TRAIN_RUN, source_weights
from serving.schema import LABELS, MODE_CONTENT, MODE_METADATA, Conversation, labels_of, with_consent
from serving.scorer import (
    Scorer,
    conversation_logits,
    final_risk_logits,
    fuse,
    platt,
    session_embeddings,
    session_runner,
)
from serving.text import MessageTokenizer, load_tokenizer, message_token_ids, per_conversation
from training import export, tracking
from training.baseline import TfidfBaseline
from training.calibration import fit_bands, fit_fusion, fit_platt
from training.chitchat import is_real_benign
from training.config import ExportConfig, TrainingParams, training_params
from training.data import TRAIN, VALIDATION, Split, read_split, split_names, write_jsonl
from training.exemplar_baseline import zero_shot_scores
from training.exemplars import LIBRARY, load_library
from training.export import ExportGateError
from training.finetune import (
    HISTORY,
    EpochResult,
    benign_bank,
    embed_messages,
    exemplar_head,
    fine_tune_jointly,
    fit,
    message_set,
    predict_logits,
    pretrained_path,
    set_seed,
    subset,
    write_history,
)
from training.keyword_baseline import KeywordBaseline
from training.metadata_model import MetadataModel
from training.model import MessageEncoder, build_encoder, load_content_model, save_content_model
from training.provenance import data_hash, git_commit, package_versions

log = logging.getLogger(__name__)
ZERO_SHOT = "exemplar_zero_shot"
transformers_logging.disable_progress_bar()


def _read_splits(params: TrainingParams) -> dict[str, Split]:
    splits = {name: read_split(params.paths.data, name, params.limits) for name in split_names(params.paths.data)}
    for split in splits.values():
        rejects_path = params.paths.models / "rejects" / f"{split.name}.jsonl"
        write_jsonl(rejects_path, [r.__dict__ for r in split.rejects])
        log.info("%s: %d conversations, %d rejected", split.name, len(split.conversations), len(split.rejects))
    return splits


def _write_predictions(path: Path, conversations: list[Conversation], scores: np.ndarray) -> None:
    write_jsonl(
        path,
        (
            {"conversation_id": c.conversation_id, "label": c.label, "score": float(s)}
            for c, s in zip(conversations, scores, strict=True)
        ),
    )


def _both_classes(name: str, labels: list[int]) -> np.ndarray:
    if len(set(labels)) < 2:
        raise UsageError(
            f"{name} needs risky and benign conversations with consent; it has labels {sorted(set(labels))}"
        )
    return np.asarray(labels)


def conversation_weights(conversations: list[Conversation], weights: dict[str, float]) -> np.ndarray | None:
    """Each conversation's weight in training, its source's (`groups.source`; none of the
    licensed sources: synthetic); None when every weight is 1, the unweighted fit."""
    synthetic = weights.get(SYNTHETIC_SOURCE, 1.0)
    out = np.asarray([weights.get(c.groups.get("source", ""), synthetic) for c in conversations], dtype=np.float64)
    return None if np.all(out == 1.0) else out


def train_stage(params_path: Path, profile: str | None) -> int:
    params, raw = training_params(params_path, profile)
    set_seed(params.seed)
    splits = _read_splits(params)
    # Content models read only conversations with consent; the metadata model sees all.
    readable = {name: with_consent(split.conversations) for name, split in splits.items()}
    train_labels = _both_classes("train split", labels_of(readable[TRAIN]))
    weights = source_weights(params.paths.data)
    train_weights = conversation_weights(readable[TRAIN], weights)
    _both_classes("validation split", labels_of(readable[VALIDATION]))
    models = params.paths.models
    data_sha256 = data_hash(sorted(params.paths.data.glob("*.jsonl")))
    commit = git_commit()
    with tracking.run(params.mlflow.experiment, run_name=f"train-{data_sha256[:8]}") as active:
        mlflow.log_params(tracking.flatten(raw))
        mlflow.set_tags({"git_commit": commit, "data_sha256": data_sha256, "profile": profile or "default"})
        mlflow.log_metrics({f"rejects_{s.name}": len(s.rejects) for s in splits.values()})

        comparators = {
            "tfidf": TfidfBaseline(params.baseline, params.seed),
            "keyword": KeywordBaseline(params.keyword, params.seed),
        }
        for comparator, model in comparators.items():
            log.info("fitting %s on %d conversations", comparator, len(readable[TRAIN]))
            started = time.perf_counter()
            model.fit(readable[TRAIN], train_labels, sample_weight=train_weights)
            for name in sorted(readable.keys() - {TRAIN}):
                scores = model.predict_proba(readable[name])[:, 1]
                _write_predictions(models / PREDICTIONS / comparator / f"{name}.jsonl", readable[name], scores)
            mlflow.log_metric(f"{comparator}_fit_seconds", time.perf_counter() - started)

        # Records without account metadata (real benign chat) are scored on content alone.
        every_train = [c for c in splits[TRAIN].conversations if has_account_metadata(c)]
        log.info("fitting the metadata model on %d conversations", len(every_train))
        metadata = MetadataModel(params.metadata_model, params.seed).fit(
            every_train, labels_of(every_train), sample_weight=conversation_weights(every_train, weights)
        )
        metadata.save_onnx(models / "metadata" / METADATA_MODEL, params.export.opset)

        config = params.transformer
        weights = pretrained_path()
        tokenizer = MessageTokenizer(load_tokenizer(str(weights / "tokenizer.json")), params.message)
        bert = build_encoder(config, tokenizer.tokenizer.get_vocab_size(), str(weights))
        encoder = MessageEncoder(bert)
        torch.set_num_threads(config.threads)
        started = time.perf_counter()
        sets = {}
        for name in readable:
            log.info("encoding %s: %d conversations", name, len(readable[name]))
            sets[name] = message_set(encoder, tokenizer, readable[name], config.encode_batch_size)
        mlflow.log_metrics(
            {
                "encoded_messages": sum(s.messages for s in sets.values()),
                "encode_seconds": time.perf_counter() - started,
            }
        )
        sets[TRAIN] = replace(sets[TRAIN], weights=train_weights)
        library = load_library()
        bank, head_rows = benign_bank(sets[TRAIN], readable[TRAIN], config.benign_bank, params.seed)
        log.info(
            "benign bank: %d messages; the head learns from %d conversations",
            0 if bank is None else len(bank),
            len(head_rows),
        )
        head_train = subset(sets[TRAIN], head_rows)
        model = exemplar_head(encoder, tokenizer, library, config, bank)
        for name in sorted(sets.keys() - {TRAIN}):
            scores = zero_shot_scores(model, sets[name].embeddings, sets[name].roles)
            _write_predictions(models / PREDICTIONS / ZERO_SHOT / f"{name}.jsonl", readable[name], scores)
        started = time.perf_counter()

        def log_epoch(r: EpochResult) -> None:
            metrics = {
                "train_loss": r.train_loss,
                "validation_pr_auc": r.validation_pr_auc,
                "epoch_seconds": r.seconds,
                "train_conversations_per_second": r.conversations_per_second,
            }
            mlflow.log_metrics(metrics, step=r.epoch)

        history = fit(model, config, head_train, sets[VALIDATION], params.seed, on_epoch=log_epoch)
        history += fine_tune_jointly(
            encoder, model, config, head_train, sets[VALIDATION], params.seed, history, on_epoch=log_epoch
        )
        mlflow.log_metric("transformer_train_seconds", time.perf_counter() - started)
        write_history(models / HISTORY, history)
        out = models / "transformer"
        save_content_model(out, bert, model)
        shutil.copyfile(weights / "tokenizer.json", out / "tokenizer.json")
        shutil.copyfile(LIBRARY, out / EXEMPLARS)
        mlflow.set_tags({"exemplar_library_version": library.version, "exemplar_library_sha256": library.sha256})
        (out / "history.json").write_text(json.dumps([r.__dict__ for r in history], indent=2))
        run_info = {"mlflow_run_id": active.info.run_id, "data_sha256": data_sha256, "git_commit": commit}
        (models / TRAIN_RUN).write_text(json.dumps(run_info, indent=2))
    best = max(r.validation_pr_auc for r in history)
    print(f"trained: {len(history)} epochs, best validation PR-AUC {best:.4f}, MLflow run {run_info['mlflow_run_id']}")
    return 0


def _check_gates(metrics: dict, config: ExportConfig) -> None:
    failures = []
    if not metrics["max_abs_logit_diff"] <= config.max_abs_logit_diff:
        failures.append(f"fp32 max |logit diff| {metrics['max_abs_logit_diff']:.2e} > {config.max_abs_logit_diff:.0e}")
    if not abs(metrics["int8_auc_delta"]) <= config.max_int8_auc_delta:
        failures.append(f"int8 |ROC-AUC delta| {abs(metrics['int8_auc_delta']):.4f} > {config.max_int8_auc_delta}")
    if not metrics["int8_decision_agreement"] >= config.min_int8_decision_agreement:
        failures.append(
            f"int8 decision agreement {metrics['int8_decision_agreement']:.4f} < {config.min_int8_decision_agreement}"
        )
    if failures:
        raise ExportGateError("export parity gate failed: " + "; ".join(failures))


def _onnx_io(path: Path) -> dict[str, list[str]]:
    graph = onnx.load(str(path)).graph
    initializers = {i.name for i in graph.initializer}
    return {
        "inputs": [i.name for i in graph.input if i.name not in initializers],
        "outputs": [o.name for o in graph.output],
    }


def export_stage(params_path: Path, profile: str | None) -> int:
    params, _ = training_params(params_path, profile)
    models, bundle_dir = params.paths.models, params.paths.bundle
    run_info = json.loads((models / TRAIN_RUN).read_text())
    source = models / "transformer"
    encoder, model = load_content_model(source)
    tokenizer = MessageTokenizer(load_tokenizer(str(source / "tokenizer.json")), params.message)
    validation = read_split(params.paths.data, VALIDATION, params.limits)
    readable = with_consent(validation.conversations)
    readable_labels = _both_classes("validation split", labels_of(readable))
    encoded = tokenizer.encode(readable)
    token_ids, roles = message_token_ids(encoded), [c.roles for c in encoded]

    # The bundle is built beside its final place and moved there only when every gate passed.
    staging = bundle_dir.with_name(bundle_dir.name + ".staging")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    work = models / "onnx"
    fp32, fp32_optimized = work / "encoder_fp32.onnx", work / "encoder_fp32_optimized.onnx"
    log.info("exporting the encoder to ONNX and fusing it")
    export.export_encoder(encoder, fp32, params.export.opset)
    bert_config = encoder.bert.config
    fused = export.optimize(fp32, fp32_optimized, bert_config.num_attention_heads, bert_config.hidden_size)
    # Both encoder graphs ship: int8 is the faster only on CPUs with VNNI (serving/scorer.py `auto_encoder`).
    shutil.copyfile(fp32_optimized, staging / ENCODER_FP32_MODEL)
    log.info("quantising the encoder to int8; exporting the conversation model")
    export.quantize_int8(
        fp32_optimized, staging / ENCODER_MODEL, params.export.int8_block_size, params.export.int8_accuracy_level
    )
    export.export_conversation_model(model, staging / CONVERSATION_MODEL, params.export.opset)

    runtime, threads = params.runtime, params.runtime.intra_op_threads
    conversation_session = export.session(staging / CONVERSATION_MODEL, threads)
    int8_session = export.session(staging / ENCODER_MODEL, threads)

    def served(embeddings: list[np.ndarray]) -> list[np.ndarray]:
        return conversation_logits(
            session_runner(conversation_session),
            embeddings,
            roles,
            runtime.conversation_batch_size,
            runtime.segment_messages,
        )[0]

    log.info("parity: %d validation messages through torch", len(token_ids))
    torch_embeddings = per_conversation(embed_messages(encoder, token_ids, runtime.message_batch_size), encoded)
    torch_logits = predict_logits(
        model, torch_embeddings, roles, runtime.conversation_batch_size, runtime.segment_messages
    )
    log.info("parity: the same messages through the fp32 ONNX encoder")
    fp32_session = export.session(staging / ENCODER_FP32_MODEL, threads)
    fp32_embeddings = session_embeddings(fp32_session, token_ids, runtime.message_batch_size)
    fp32_logits = served(per_conversation(fp32_embeddings, encoded))
    log.info("parity: the same messages through the int8 ONNX encoder")
    int8_embeddings = session_embeddings(int8_session, token_ids, runtime.message_batch_size)
    int8_logits = served(per_conversation(int8_embeddings, encoded))
    # How far a message's embedding moves when it is encoded alone rather than among others: the
    # scorer's embedding cache reuses it in other batches (serving/scorer.py `_encode`), and int8
    # that scaled activations per batch tensor would move it.
    probe = token_ids[: params.export.batch_effect_messages]

    def batch_effect(session: ort.InferenceSession, together: np.ndarray) -> float:
        alone = np.concatenate([session_embeddings(session, [ids], 1) for ids in probe])
        return float(np.max(np.abs(alone - together[: len(probe)])))

    fp32_scores, int8_scores = final_risk_logits(fp32_logits), final_risk_logits(int8_logits)
    threshold = threshold_for_recall(readable_labels, fp32_scores, params.thresholds.medium_min_recall)
    metrics = {
        "max_abs_logit_diff": float(np.max(np.abs(np.concatenate(torch_logits) - np.concatenate(fp32_logits)))),
        "fp32_batch_effect_max_abs_embedding": batch_effect(fp32_session, fp32_embeddings),
        "int8_batch_effect_max_abs_embedding": batch_effect(int8_session, int8_embeddings),
        **export.int8_parity(readable_labels, fp32_scores, int8_scores, threshold),
        "fp32_bytes": (staging / ENCODER_FP32_MODEL).stat().st_size,
        "int8_bytes": (staging / ENCODER_MODEL).stat().st_size,
        "conversation_model_bytes": (staging / CONVERSATION_MODEL).stat().st_size,
        "validation_messages": len(token_ids),
        "fused_nodes": fused,
    }
    (models / EXPORT_METRICS).write_text(json.dumps(metrics, indent=2))
    _check_gates(metrics, params.export)

    shutil.copyfile(source / "tokenizer.json", staging / TOKENIZER)
    shutil.copyfile(source / EXEMPLARS, staging / EXEMPLARS)
    shutil.copyfile(models / "metadata" / METADATA_MODEL, staging / METADATA_MODEL)
    manifest = {
        "model_version": f"{run_info['data_sha256'][:8]}-{run_info['mlflow_run_id'][:8]}",
        "labels": list(LABELS),
        "message": asdict(params.message),
        "limits": asdict(params.limits),
        "runtime": asdict(params.runtime),
        "metadata_features": list(METADATA_FEATURES),
        "onnx_io": {name: _onnx_io(staging / name) for name in ONNX_MODELS},
        "training_data_sha256": run_info["data_sha256"],
        "exemplars": {"version": load_library(source / EXEMPLARS).version, "file": EXEMPLARS},
        "git_commit": run_info["git_commit"],
        "mlflow_run_id": run_info["mlflow_run_id"],
        "packages": package_versions(),
        "export": {k: metrics[k] for k in ("max_abs_logit_diff", "int8_auc_delta", "int8_decision_agreement")},
        # Identity calibration until fitted below on the bundle's own validation scores.
        "calibration": {"content": asdict(Platt(1.0, 0.0)), "metadata": asdict(Platt(1.0, 0.0))},
        "fusion": asdict(Fusion(1.0, 0.0, 0.0)),
        "thresholds": {mode: asdict(Bands(1.0, 1.0)) for mode in (MODE_CONTENT, MODE_METADATA, CONTENT_ONLY)},
    }
    write_manifest(staging, manifest)
    # Fitted through the fp32 encoder, the reference the int8 one is gated against, so that the
    # bundle does not depend on which graph the exporting CPU would pick.
    scorer = Scorer.from_bundle(load_bundle(staging), precision=FP32)
    fitting = {VALIDATION: validation} | {
        name: read_split(params.paths.data, name, params.limits)
        for name in params.calibration.fusion_splits
        if name != VALIDATION
    }
    manifest.update(_calibrate(scorer, fitting, params))
    write_manifest(staging, manifest)
    signing_key = os.environ.get(params.export.signing_key_env)
    if signing_key:
        sign_bundle(staging, Path(signing_key))
        log.info("bundle signed (%s) with the key named by $%s", SIGNATURE, params.export.signing_key_env)
    else:
        log.info("bundle unsigned: $%s names no signing key", params.export.signing_key_env)
    shutil.rmtree(bundle_dir, ignore_errors=True)
    staging.rename(bundle_dir)
    bundle = load_bundle(bundle_dir)

    with tracking.run(params.mlflow.experiment, run_id=run_info["mlflow_run_id"]):
        mlflow.log_metrics({f"export.{k}": float(v) for k, v in metrics.items() if not isinstance(v, dict)})
        mlflow.log_metrics({f"export.fused.{k}": v for k, v in fused.items()})
        mlflow_model.log_bundle_model(bundle_dir, params.paths.data, run_info["data_sha256"])
    print(
        f"bundle {bundle_dir} model {bundle.model_version}: max |logit diff| {metrics['max_abs_logit_diff']:.2e}, "
        f"int8 ROC-AUC delta {metrics['int8_auc_delta']:+.4f}, agreement {metrics['int8_decision_agreement']:.4f}, "
        f"encoders int8 {metrics['int8_bytes'] / 1e6:.1f} MB + fp32 {metrics['fp32_bytes'] / 1e6:.1f} MB, "
        f"fused {fused}"
    )
    return 0


@dataclass(frozen=True)
class _Logits:
    """A split's uncalibrated logits through the bundle, and its labels."""

    content: np.ndarray  # records with consent
    metadata: np.ndarray  # every record
    labels: np.ndarray  # every record
    consent: np.ndarray
    account: np.ndarray  # every record: whether it has account metadata
    real_benign: np.ndarray  # every record: whether it is real benign chat (chitchat.SOURCE)

    @classmethod
    def of(cls, scorer: Scorer, conversations: list[Conversation]) -> _Logits:
        return cls(
            scorer.content_logits(with_consent(conversations)),
            scorer.metadata_logits(conversations),
            np.asarray(labels_of(conversations)),
            np.asarray([c.opt_in for c in conversations]),
            np.asarray([has_account_metadata(c) for c in conversations]),
            np.asarray([is_real_benign(c) for c in conversations]),
        )

    @property
    def readable_metadata(self) -> np.ndarray:
        """Metadata logits of the records with consent, aligned with `content`."""
        return self.metadata[self.consent]

    @property
    def readable_labels(self) -> np.ndarray:
        return self.labels[self.consent]

    @property
    def fusable(self) -> np.ndarray:
        """Among the records with consent, those the fusion scores: with account metadata."""
        return self.account[self.consent]


def _calibrate(scorer: Scorer, splits: dict[str, Split], params: TrainingParams) -> dict:
    """Calibration and bands of the bundle, fitted on validation through the bundle; the fusion
    fitted on the splits of `calibration.fusion_splits` together (params.yaml says why)."""
    logits = {}
    for name, split in splits.items():
        log.info("calibration: scoring %s through the bundle", name)
        logits[name] = _Logits.of(scorer, split.conversations)
    fitted = logits[VALIDATION]
    c = params.calibration.C
    content_platt = fit_platt(fitted.content, fitted.readable_labels, c)
    metadata_platt = fit_platt(fitted.metadata, fitted.labels, c)
    fusion_splits = list(params.calibration.fusion_splits)
    fusion_data = [logits[name] for name in fusion_splits]
    fusion = fit_fusion(
        np.concatenate([d.content[d.fusable] for d in fusion_data]),
        np.concatenate([d.readable_metadata[d.fusable] for d in fusion_data]),
        np.concatenate([d.readable_labels[d.fusable] for d in fusion_data]),
        c,
    )
    fusable = fitted.fusable
    fused = fuse(fusion, fitted.content[fusable], fitted.readable_metadata[fusable])
    return {
        "calibration": {"content": asdict(content_platt), "metadata": asdict(metadata_platt)},
        "fusion": asdict(fusion),
        "fitted_on": {"calibration": VALIDATION, "thresholds": VALIDATION, "fusion": fusion_splits},
        "band_targets": asdict(params.thresholds),
        "thresholds": {
            MODE_CONTENT: asdict(fit_bands(fitted.readable_labels[fusable], fused, params.thresholds)),
            CONTENT_ONLY: asdict(
                fit_bands(
                    fitted.readable_labels,
                    platt(content_platt, fitted.content),
                    params.thresholds,
                    fitted.real_benign[fitted.consent],
                )
            ),
            MODE_METADATA: asdict(fit_bands(fitted.labels, platt(metadata_platt, fitted.metadata), params.thresholds)),
        },
    }
