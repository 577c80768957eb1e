"""Template-family cross-validation: can a model recognise an escalation move in a phrasing it
never saw? Each signal's escalation templates are cut into `template_cv.folds` families
(training/synthetic.py, `family_phrasing`). Per fold, every content model trains on generated
conversations whose moves use the other families, and scores conversations whose moves use only
that family; the encoder stays the pretrained one, as in the train stage.

Writes `<models>/template_cv.jsonl`: per held-out conversation its fold, label and each model's
score (ids and numbers only); the evaluation turns it into ROC-AUC and PR-AUC with intervals.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import mlflow
import numpy as np

from serving.schema import Conversation, labels_of, parse_record, with_consent
from serving.text import MessageTokenizer, load_tokenizer
from training import synthetic, tracking
from training.baseline import TfidfBaseline
from training.config import TrainingParams, training_params
from training.data import write_jsonl
from training.exemplar_baseline import zero_shot_scores
from training.exemplars import load_library
from training.finetune import exemplar_head, fit, message_set, predict_logits, pretrained_path, set_seed
from training.keyword_baseline import KeywordBaseline
from training.model import MessageEncoder, build_encoder, saved_bank

log = logging.getLogger(__name__)

TEMPLATE_CV = "template_cv.jsonl"
CONTENT_MODEL = "transformer"


def fold_conversations(params: TrainingParams, fold: int) -> dict[str, list[Conversation]]:
    """The fold's `train` and `validation` (without its template family) and `test` (only it),
    the records with consent."""
    config, cv = params.generate, params.template_cv
    plans = {
        "train": (cv.train, False),
        "validation": (cv.validation, False),
        "test": (cv.test, True),
    }
    out = {}
    for part, (count, held) in plans.items():
        records = synthetic.generate_family_fold(
            config, f"template-cv-{fold}-{part}", count, synthetic.family_phrasing(fold, cv.folds, held)
        )
        out[part] = with_consent([parse_record(r, params.limits) for r in records])
    return out


def template_cv_stage(params_path: Path, profile: str | None) -> int:
    params, _ = training_params(params_path, profile)
    set_seed(params.seed)
    config = params.transformer
    weights = pretrained_path()
    tokenizer = MessageTokenizer(load_tokenizer(str(weights / "tokenizer.json")), params.message)
    encoder = MessageEncoder(build_encoder(config, tokenizer.tokenizer.get_vocab_size(), str(weights)))
    library = load_library()
    bank = saved_bank(params.paths.models / "transformer")  # real benign chat: no template family in it
    segment = params.runtime.segment_messages
    rows: list[dict] = []
    started = time.perf_counter()
    for fold in range(params.template_cv.folds):
        log.info("template CV fold %d/%d: generating and encoding its splits", fold + 1, params.template_cv.folds)
        data = fold_conversations(params, fold)
        train_labels = labels_of(data["train"])
        sets = {part: message_set(encoder, tokenizer, data[part], config.encode_batch_size) for part in data}
        model = exemplar_head(encoder, tokenizer, library, config, bank)
        test = sets["test"]
        scores = {"exemplar_zero_shot": zero_shot_scores(model, test.embeddings, test.roles)}
        fit(model, config, sets["train"], sets["validation"], params.seed)
        logits = predict_logits(model, test.embeddings, test.roles, config.batch_size, segment)
        scores[CONTENT_MODEL] = np.asarray([z[-1, 0] for z in logits])
        for name, baseline in (
            ("tfidf", TfidfBaseline(params.baseline, params.seed)),
            ("keyword", KeywordBaseline(params.keyword, params.seed)),
        ):
            log.info("template CV fold %d: fitting %s", fold + 1, name)
            scores[name] = baseline.fit(data["train"], train_labels).predict_proba(data["test"])[:, 1]
        for index, conversation in enumerate(data["test"]):
            rows.append(
                {
                    "conversation_id": conversation.conversation_id,
                    "fold": fold,
                    "label": conversation.label,
                    "scores": {name: float(values[index]) for name, values in sorted(scores.items())},
                }
            )
        print(f"template CV fold {fold + 1}/{params.template_cv.folds}: {len(data['test'])} held-out conversations")
    out = params.paths.models / TEMPLATE_CV
    write_jsonl(out, rows)
    with tracking.run(params.mlflow.experiment, run_name="template-cv"):
        mlflow.log_metrics({"template_cv_seconds": time.perf_counter() - started, "template_cv_rows": len(rows)})
    print(f"template CV: {len(rows)} held-out conversations in {time.perf_counter() - started:.0f} s -> {out}")
    return 0
