"""Training throughput of the transformer on this machine: windows/s and where the time goes.

    python benchmarks/train_speed.py [--params params.yaml] [--profile PROFILE]

Trains `benchmarks.train_steps` batches (after `benchmarks.warmup_steps`) on windows of the
synthetic validation split, exactly as `training.finetune` batches them, and prints the share
of time in data preparation, forward, backward and the optimizer step.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import torch

from serving.params import load_params
from serving.schema import labels_of, parse_record, with_consent
from serving.scorer import pad_batch
from serving.text import Windower, load_tokenizer
from training import synthetic
from training.config import training_params
from training.finetune import build_model, pretrained_path, set_seed, shuffled_buckets, window_set


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--profile", default=None)
    args = parser.parse_args()
    params, _ = training_params(args.params, args.profile)
    bench = load_params(args.params, args.profile)["benchmarks"]
    config = params.transformer
    torch.set_num_threads(config.threads)
    set_seed(params.seed)

    records = synthetic.generate_split(params.generate, "validation")
    conversations = with_consent([parse_record(r, params.limits) for r in records])
    labels_of(conversations)
    windower = Windower(load_tokenizer(str(pretrained_path() / "tokenizer.json")), params.window)
    windows = window_set(windower, conversations)
    model = build_model(config, windower.tokenizer.get_vocab_size())
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    lengths = [len(w.input_ids) for w in windows.windows]
    rng = np.random.default_rng(params.seed)
    batches = shuffled_buckets(lengths, config.batch_size, config.bucket_pool_batches, rng)
    needed = bench["warmup_steps"] + bench["train_steps"]
    batches = (batches * (needed // len(batches) + 1))[:needed]

    timings = {"data": 0.0, "forward": 0.0, "backward": 0.0, "optimizer": 0.0}
    seen = 0
    for step, batch in enumerate(batches):
        measured = step >= bench["warmup_steps"]
        t0 = time.perf_counter()
        input_ids, attention = pad_batch([windows.windows[i] for i in batch])
        inputs = {"input_ids": torch.from_numpy(input_ids), "attention_mask": torch.from_numpy(attention)}
        targets = torch.from_numpy(windows.targets[batch])
        t1 = time.perf_counter()
        loss = loss_fn(model(**inputs).logits, targets)
        t2 = time.perf_counter()
        optimizer.zero_grad()
        loss.backward()
        t3 = time.perf_counter()
        optimizer.step()
        t4 = time.perf_counter()
        if measured:
            for name, seconds in zip(timings, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
                timings[name] += seconds
            seen += len(batch)
    total = sum(timings.values())
    mean_length = np.mean([lengths[i] for batch in batches for i in batch])
    print(
        f"model: {config.init}, threads {config.threads}, batch {config.batch_size}, "
        f"max_length {params.window.max_length}"
    )
    print(f"windows: {seen} in {bench['train_steps']} steps, mean length {mean_length:.1f} tokens")
    print(f"throughput: {seen / total:.1f} training windows/s ({total:.1f} s)")
    for name, seconds in timings.items():
        print(f"  {name:<10} {seconds:7.2f} s  {100 * seconds / total:5.1f}%")


if __name__ == "__main__":
    main()
