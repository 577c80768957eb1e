"""Scoring throughput, messages/s and tokens/s, on the same conversations, four ways:

    .venv/bin/python benchmarks/score_throughput.py [--bundle models/bundle] [--model models/transformer]
                                                    [--input synthetic|chitchat] [--conversations 2000]
                                                    [--threads N] [--repeat 2] [--precision auto|fp32|int8]
                                                    [--cache-messages N] [--skip a0,b,b32,c]

`--input chitchat` reads real human chat (the chitchat-dataset suite) instead of generated
conversations: real messages are about twice as long. The CPU's flags are printed with the
table, since int8 speed depends on them, with the encoder graph `auto` picks on this machine;
`--precision` runs (a) and (d) with another (default: auto, what `grooming-risk score` runs).

The content model has two parts: a message encoder (one embedding per message) and a causal
conversation model over each conversation's embeddings (training/model.py).
(a) ours: `grooming-risk score`'s local engine, file to file (read, validate, normalise,
    tokenise each message, the ONNX encoder of `--precision` in batches of one length, each
    distinct message once and none that the job's embedding cache already holds (a fresh cache of
    `--cache-messages` per run, as a new job starts), the ONNX conversation model in batches of
    conversations, fuse, write); (a0) the same without the cache;
(b) the same trained model through a transformers `pipeline("feature-extraction")` over the
    encoder, fed each message's normalised text (the pipeline tokenises it), as a user would
    call it (one text at a time); its token states mean-pooled with the attention mask (the
    pipeline returns every token's state, padded to its batch's longest), then the torch conversation model
    over each conversation, one at a time; (b') the same with the pipeline's `batch_size` set;
(c) the same model in torch eager mode, fp32: the encoder over messages padded to
    message.max_tokens in batches of runtime.message_batch_size, then the torch conversation model in batches
    of runtime.conversation_batch_size;
(d) the ceiling: ONNX Runtime alone, the same ONNX encoder on every pre-tokenised message (no
    cache) in batches of one length over the whole set, and the conversation model on
    conversations bucketed by length, padded before the clock starts. With the cache, (a) can
    beat it on chat that repeats its lines.

Every row counts the conversations with consent (the ones whose text is read) and their
messages, so the rates compare directly; every engine gets the same number of threads. (a), (a0)
and (d) run `--repeat` times, interleaved, and report their best run; (b) and (c) run once. Numbers
only: no text is printed.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np
import torch

from serving.batch import run_batch
from serving.bundle import load_bundle
from serving.schema import parse_record
from serving.scorer import AUTO, PRECISIONS, VNNI_FLAGS, EmbeddingCache, Scorer, choose_encoder, read_cpuinfo
from serving.scorer import cpu_flags as cpuinfo_flags
from serving.text import (
    EncodedConversation,
    message_token_ids,
    normalize,
    pad_tokens,
    per_conversation,
    same_length_batches,
)
from training import synthetic
from training.chitchat import chitchat_splits
from training.config import training_params


def chitchat_conversations(params_path: Path, count: int) -> list[dict]:
    """Up to `count` real human chats: the `external_benign_chitchat` suite of params.yaml
    (chitchat-dataset, 50 characters a message rather than the generator's 27)."""
    params, _ = training_params(params_path)
    suite = chitchat_splits(params.chitchat, params.seed)[params.chitchat.suite_name]
    return suite[:count]


def cpu_flags() -> str:
    """The instruction sets that decide int8 speed, from /proc/cpuinfo where there is one."""
    flags = cpuinfo_flags(read_cpuinfo())
    if not flags:
        return "unknown"
    wanted = ("avx2", "avx512f", *VNNI_FLAGS, "amx_int8")
    return ", ".join(f for f in wanted if f in flags) or "none of " + ", ".join(wanted)


def conversations(params_path: Path, count: int, split: str = "benchmark") -> list[dict]:
    """`count` synthetic records from the generator of params.yaml, under a split name of their own."""
    params, _ = training_params(params_path)
    config = dataclasses.replace(params.generate, conversations={split: count})
    return synthetic.generate_split(config, split)


def ours(scorer: Scorer, source: Path, folder: Path, cache_messages: int) -> float:
    """(a), with a fresh embedding cache of `cache_messages` (0: none), as a new job starts."""
    scorer.cache = EmbeddingCache(cache_messages) if cache_messages else None
    started = time.perf_counter()
    summary = run_batch(scorer, source, folder / "scores.jsonl", folder / "rejects.jsonl", progress=io.StringIO())
    elapsed = time.perf_counter() - started
    assert summary.rejected == 0, "benchmark records must all be valid"
    return elapsed


def ceiling(scorer: Scorer, encoded: Sequence[EncodedConversation], embeddings: Sequence[np.ndarray]) -> float:
    """Both sessions alone; the conversation model's inputs are the embeddings computed beforehand."""
    runtime = scorer.bundle.runtime
    token_ids = message_token_ids(encoded)
    message_batches = [
        pad_tokens([token_ids[i] for i in batch])
        for batch in same_length_batches([len(ids) for ids in token_ids], runtime.message_batch_size)
    ]
    encoder = scorer.encoder_session
    started = time.perf_counter()
    for input_ids, attention in message_batches:
        encoder.run(["embeddings"], {"input_ids": input_ids, "attention_mask": attention})
    scorer.conversation_logits(embeddings, [c.roles for c in encoded])
    return time.perf_counter() - started


def hf_pipeline(
    model_dir: Path, encoded: Sequence[EncodedConversation], texts: list[str], max_tokens: int, batch_size: int | None
) -> float:
    from transformers import PreTrainedTokenizerFast, pipeline

    from training.model import load_content_model

    tokenizer = PreTrainedTokenizerFast(
        tokenizer_file=str(model_dir / "tokenizer.json"),
        unk_token="[UNK]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        pad_token="[PAD]",
        mask_token="[MASK]",
    )
    encoder, model = load_content_model(model_dir)
    extract = pipeline("feature-extraction", model=encoder.bert, tokenizer=tokenizer, device="cpu")
    tokenize = {"truncation": True, "max_length": max_tokens}
    options: dict = {"tokenize_kwargs": tokenize, "return_tensors": True}
    if batch_size:
        options["batch_size"] = batch_size
    extract(texts[:4], **options)  # warm-up
    started = time.perf_counter()
    states = extract(texts, **options)  # per text: 1 x tokens (padded to its batch's longest) x dim
    lengths = [sum(mask) for mask in tokenizer(texts, **tokenize)["attention_mask"]]
    pooled = torch.stack([s[0, :n].mean(dim=0) for s, n in zip(states, lengths, strict=True)]).numpy()
    with torch.inference_mode():
        logits = [
            model(torch.from_numpy(e)[None], torch.tensor([c.roles]))
            for e, c in zip(per_conversation(pooled, encoded), encoded, strict=True)
        ]
    elapsed = time.perf_counter() - started
    assert len(logits) == len(encoded)
    return elapsed


def torch_eager(
    model_dir: Path,
    encoded: Sequence[EncodedConversation],
    max_tokens: int,
    message_batch_size: int,
    conversation_batch_size: int,
) -> float:
    from training.finetune import predict_logits
    from training.model import load_content_model

    encoder, model = load_content_model(model_dir)
    token_ids = message_token_ids(encoded)
    batches = []
    for start in range(0, len(token_ids), message_batch_size):
        input_ids, attention = pad_tokens(token_ids[start : start + message_batch_size])
        widen = ((0, 0), (0, max_tokens - input_ids.shape[1]))
        batches.append((torch.from_numpy(np.pad(input_ids, widen)), torch.from_numpy(np.pad(attention, widen))))
    roles = [c.roles for c in encoded]
    with torch.inference_mode():
        encoder(batches[0][0][:2], batches[0][1][:2])  # warm-up
        started = time.perf_counter()
        embeddings = torch.cat([encoder(input_ids, attention) for input_ids, attention in batches]).numpy()
        longest = max(len(r) for r in roles)  # torch reads a whole conversation in one call
        predict_logits(model, per_conversation(embeddings, encoded), roles, conversation_batch_size, longest)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, default=Path("models/bundle"))
    parser.add_argument("--model", type=Path, default=Path("models/transformer"), help="trained torch model")
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--conversations", type=int, default=2000)
    parser.add_argument(
        "--input", choices=("synthetic", "chitchat"), default="synthetic", help="generated or real human chat"
    )
    parser.add_argument("--threads", type=int, default=None, help="default: the bundle's runtime threads")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument(
        "--precision", choices=PRECISIONS, default=AUTO, help="the encoder graph of (a) and (d) (default: auto)"
    )
    parser.add_argument(
        "--cache-messages", type=int, default=None, help="(a)'s embedding cache (default: the bundle's; 0: none)"
    )
    parser.add_argument("--skip", default="", help="comma-separated rows to leave out, e.g. b,b32 for a quick look")
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = parser.parse_args()

    from transformers.utils import logging as transformers_logging

    transformers_logging.set_verbosity_error()  # no load reports or progress bars: numbers only
    transformers_logging.disable_progress_bar()
    bundle = load_bundle(args.bundle)
    threads = args.threads or bundle.runtime.intra_op_threads
    torch.set_num_threads(threads)
    scorer = Scorer.from_bundle(bundle, threads=threads, precision=args.precision)
    if args.input == "chitchat":
        records = chitchat_conversations(args.params, args.conversations)
    else:
        records = conversations(args.params, args.conversations)
    parsed = [parse_record(r, bundle.limits) for r in records]
    readable = [c for c in parsed if c.opt_in]
    encoded = scorer.tokenizer.encode(readable)
    messages = sum(len(c.roles) for c in encoded)
    tokens = sum(len(ids) for ids in message_token_ids(encoded))
    texts = [normalize(m.text) for c in readable for m in c.messages]
    embeddings = scorer.embeddings(encoded)  # the ceiling's conversation-model inputs
    max_tokens, runtime = bundle.message.max_tokens, bundle.runtime
    skip = set(filter(None, args.skip.split(",")))
    print(
        f"{len(records)} conversations ({len(readable)} with consent), {messages} messages, "
        f"{tokens / messages:.1f} tokens per message; {threads} threads; model {bundle.model_version}",
        flush=True,
    )
    print(f"input {args.input}; CPU flags: {cpu_flags()}; auto picks {choose_encoder(AUTO)}", flush=True)
    print(f"encoder of (a) and (d): {scorer.encoder}", flush=True)
    cache = runtime.embedding_cache_messages if args.cache_messages is None else args.cache_messages
    reused = 0.0

    seconds: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as folder:
        source, warm = Path(folder) / "in.jsonl", Path(folder) / "warm.jsonl"
        source.write_text("".join(json.dumps(r) + "\n" for r in records))
        warm.write_text("".join(json.dumps(r) + "\n" for r in records[:100]))
        ours(scorer, warm, Path(folder), cache)  # warm-up: the first session runs allocate
        for _ in range(args.repeat):
            seconds["a"] = min(seconds.get("a", float("inf")), ours(scorer, source, Path(folder), cache))
            if scorer.cache is not None:
                reused = scorer.cache.hits / max(scorer.cache.hits + scorer.cache.misses, 1)
            if "a0" not in skip and cache:
                seconds["a0"] = min(seconds.get("a0", float("inf")), ours(scorer, source, Path(folder), 0))
            seconds["d"] = min(seconds.get("d", float("inf")), ceiling(scorer, encoded, embeddings))
            print("  " + ", ".join(f"({k}) {v:.1f} s" for k, v in seconds.items()), flush=True)
    if "c" not in skip:
        seconds["c"] = torch_eager(
            args.model, encoded, max_tokens, runtime.message_batch_size, runtime.conversation_batch_size
        )
        print(f"  (c) {seconds['c']:.1f} s", flush=True)
    if "b32" not in skip:
        seconds["b32"] = hf_pipeline(args.model, encoded, texts, max_tokens, runtime.message_batch_size)
        print(f"  (b, batch_size={runtime.message_batch_size}) {seconds['b32']:.1f} s", flush=True)
    if "b" not in skip:
        seconds["b"] = hf_pipeline(args.model, encoded, texts, max_tokens, None)
        print(f"  (b) {seconds['b']:.1f} s", flush=True)

    names = {
        "a": f"(a) grooming-risk score, file to file (ONNX {scorer.encoder.precision} encoder + conversation model, "
        f"batches of one length, embedding cache of {cache})",
        "a0": "(a) without the embedding cache",
        "b": "(b) transformers pipeline, one text at a time, + torch conversation model",
        "b32": f"(b') transformers pipeline, batch_size={runtime.message_batch_size}, + torch conversation model",
        "c": f"(c) torch eager fp32, padded to {max_tokens}, batches of {runtime.message_batch_size}",
        "d": f"(d) ceiling: ONNX Runtime alone ({scorer.encoder.precision} encoder), pre-tokenised, pre-bucketed",
    }
    print()
    print("| engine | seconds | conversations/s | messages/s | tokens/s | time vs (a) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for key in ("a", "a0", "b", "b32", "c", "d"):
        if key in seconds:
            s = seconds[key]
            print(
                f"| {names[key]} | {s:.1f} | {len(readable) / s:.1f} | {messages / s:.1f} | {tokens / s:.0f} | "
                f"{seconds[key] / seconds['a']:.2f}x |"
            )
    print()
    if "b" in seconds:
        ratio = seconds["b"] / seconds["a"]
        print(f"target (a) >= 4x (b): {ratio:.2f}x -> {'met' if ratio >= 4 else 'MISSED'}")
    share = seconds["d"] / seconds["a"]
    print(f"target (a) >= 90% of (d): {share:.0%} -> {'met' if share >= 0.9 else 'MISSED'}")
    print(f"(a)'s embedding cache: {reused:.0%} of the distinct messages of its calls were kept from earlier ones")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "input": args.input,
                    "seconds": seconds,
                    "messages": messages,
                    "tokens": tokens,
                    "conversations": len(readable),
                    "threads": threads,
                    "cpu_flags": cpu_flags(),
                    "encoder": str(scorer.encoder),
                    "embedding_cache_messages": cache,
                    "cache_reused": reused,
                }
            )
        )


if __name__ == "__main__":
    main()
