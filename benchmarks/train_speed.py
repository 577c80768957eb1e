"""Training throughput of the content model on this machine: messages/s and where the time goes.

    python benchmarks/train_speed.py [--params params.yaml] [--profile PROFILE]

Training has three phases (training/finetune.py), measured on the synthetic validation split:
1. encoding: the frozen message encoder embeds every message once, with `embed_messages` in
   batches of `transformer.encode_batch_size` (messages/s);
2. the conversation model: `benchmarks.train_steps` batches (after `benchmarks.warmup_steps`)
   over the cached embeddings, batched exactly as `training.finetune.fit` batches them, with the
   share of time in data preparation, forward (and loss), backward and the optimizer step
   (gradient clipping included); conversations/s and messages/s;
3. the joint step (off by default: `transformer.joint_epochs`): as many batches of encoder and
   conversation model together, with the share of time in forward (the encoder's included),
   backward and the optimizer.
Numbers only: no text is printed.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import torch
from transformers.utils import logging as transformers_logging

from serving.params import load_params
from serving.schema import labels_of, parse_record, with_consent
from serving.text import MessageTokenizer, load_tokenizer, message_token_ids, per_conversation
from training import synthetic
from training.config import training_params
from training.exemplars import load_library
from training.finetune import (
    MessageSet,
    embed_messages,
    epoch_batches,
    exemplar_head,
    joint_loss,
    message_targets,
    positive_weights,
    pretrained_path,
    set_seed,
    training_batch,
    training_loss,
)
from training.model import MessageEncoder, build_encoder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--profile", default=None)
    args = parser.parse_args()
    transformers_logging.set_verbosity_error()  # no load reports or progress bars: numbers only
    transformers_logging.disable_progress_bar()
    params, _ = training_params(args.params, args.profile)
    bench = load_params(args.params, args.profile)["benchmarks"]
    config = params.transformer
    torch.set_num_threads(config.threads)
    set_seed(params.seed)

    records = synthetic.generate_split(params.generate, "validation")
    conversations = with_consent([parse_record(r, params.limits) for r in records])
    labels = labels_of(conversations)
    weights = pretrained_path()
    tokenizer = MessageTokenizer(load_tokenizer(str(weights / "tokenizer.json")), params.message)
    encoder = MessageEncoder(build_encoder(config, tokenizer.tokenizer.get_vocab_size(), str(weights)))
    encoded = tokenizer.encode(conversations)
    token_ids = message_token_ids(encoded)

    # Phase 1: the frozen encoder, once over every message (after a warm-up batch).
    embed_messages(encoder, token_ids[: config.encode_batch_size], config.encode_batch_size)
    started = time.perf_counter()
    embeddings = embed_messages(encoder, token_ids, config.encode_batch_size)
    encode_seconds = time.perf_counter() - started
    data = MessageSet(
        embeddings=per_conversation(embeddings, encoded),
        encoded=encoded,
        targets=[message_targets(c) for c in conversations],
        labels=np.asarray(labels),
    )

    # Phase 2: the conversation model, step by step as `fit` runs it.
    model = exemplar_head(encoder, tokenizer, load_library(), config)
    model.train()
    rng = np.random.default_rng(params.seed)
    pos_weight = torch.tensor(positive_weights(data, config.max_positive_weight), dtype=torch.float32)
    loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=pos_weight, reduction="none")
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    needed = bench["warmup_steps"] + bench["train_steps"]
    batches: list[np.ndarray] = []
    while len(batches) < needed:  # epochs as `fit` runs them
        batches += epoch_batches(len(data.embeddings), config.batch_size, rng)
    batches = batches[:needed]

    timings = {"data": 0.0, "forward": 0.0, "backward": 0.0, "optimizer": 0.0}
    conversations_seen, messages_seen = 0, 0
    for step, batch in enumerate(batches):
        measured = step >= bench["warmup_steps"]
        t0 = time.perf_counter()
        inputs, roles, targets, mask = training_batch(data, batch)
        t1 = time.perf_counter()
        loss = training_loss(loss_fn, model(inputs, roles)[0], targets, mask, config.signal_loss_weight)
        t2 = time.perf_counter()
        optimizer.zero_grad()
        loss.backward()
        t3 = time.perf_counter()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
        optimizer.step()
        t4 = time.perf_counter()
        if measured:
            for name, seconds in zip(timings, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
                timings[name] += seconds
            conversations_seen += len(batch)
            messages_seen += int(mask.sum())
    total = sum(timings.values())
    print(
        f"model: encoder {config.init} (dim {encoder.dim}, frozen in phases 1-2), exemplar head of "
        f"{sum(p.numel() for p in model.parameters())} parameters, "
        f"threads {config.threads}, max_tokens {params.message.max_tokens}"
    )
    print(
        f"encoding: {len(token_ids)} messages of {len(conversations)} conversations, "
        f"mean {np.mean([len(ids) for ids in token_ids]):.1f} tokens, batches of {config.encode_batch_size}: "
        f"{len(token_ids) / encode_seconds:.1f} messages/s ({encode_seconds:.1f} s)"
    )
    print(
        f"training: {conversations_seen} conversations, {messages_seen} messages in {bench['train_steps']} steps "
        f"of {config.batch_size} conversations, mean {messages_seen / conversations_seen:.1f} messages"
    )
    print(
        f"throughput: {conversations_seen / total:.1f} training conversations/s, "
        f"{messages_seen / total:.1f} messages/s ({total:.2f} s)"
    )
    for name, seconds in timings.items():
        print(f"  {name:<10} {seconds:7.3f} s  {100 * seconds / total:5.1f}%")

    # Phase 3: encoder and conversation model together, step by step as `fine_tune_jointly` runs it.
    encoder.train()
    optimizer = torch.optim.AdamW([*encoder.parameters(), *model.parameters()], lr=config.joint_learning_rate)
    batches = []
    while len(batches) < needed:
        batches += epoch_batches(len(data.embeddings), config.joint_batch_size, rng)
    joint = {"forward": 0.0, "backward": 0.0, "optimizer": 0.0}
    joint_conversations, joint_messages = 0, 0
    for step, batch in enumerate(batches[:needed]):
        t0 = time.perf_counter()
        loss = joint_loss(encoder, model, data, batch, loss_fn, config)
        t1 = time.perf_counter()
        optimizer.zero_grad()
        loss.backward()
        t2 = time.perf_counter()
        optimizer.step()
        t3 = time.perf_counter()
        if step >= bench["warmup_steps"]:
            for name, seconds in zip(joint, (t1 - t0, t2 - t1, t3 - t2), strict=True):
                joint[name] += seconds
            joint_conversations += len(batch)
            joint_messages += sum(len(data.roles[i]) for i in batch)
    total = sum(joint.values())
    print(
        f"joint: {joint_conversations} conversations, {joint_messages} messages in {bench['train_steps']} steps of "
        f"{config.joint_batch_size}: {joint_conversations / total:.1f} conversations/s, "
        f"{joint_messages / total:.1f} messages/s ({total:.2f} s)"
    )
    for name, seconds in joint.items():
        print(f"  {name:<10} {seconds:7.3f} s  {100 * seconds / total:5.1f}%")


if __name__ == "__main__":
    main()
