"""Scoring throughput, messages/s, on the same synthetic conversations, four ways:

    .venv/bin/python benchmarks/score_throughput.py [--bundle models/bundle] [--model models/transformer]
                                                    [--conversations 2000] [--threads N] [--repeat 2]

(a) ours: `grooming-risk score`'s local engine, file to file (read, validate, window,
    tokenise, ONNX Runtime int8 in length-bucketed batches, fuse, write);
(b) the same fine-tuned model through a transformers `pipeline("text-classification")`, fed the
    text of the same windows (each window's token ids decoded; the pipeline tokenises again),
    as a user would call it (one text at a time), and once more with `batch_size` set;
(c) the same model in torch eager mode, fp32, windows padded to max_length, batches of the
    bundle's batch size;
(d) the ceiling: ONNX Runtime alone, the bundle's int8 model on pre-tokenised windows bucketed
    by length over the whole set, padded before the clock starts.

Every row counts the messages of the conversations with consent (the ones whose text is read),
so the rates compare directly; every engine gets the same number of threads. (a) and (d) run
`--repeat` times, interleaved, and report their best run; (b) and (c) run once. Numbers only:
no text is printed.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch

from serving.batch import run_batch
from serving.bundle import load_bundle
from serving.schema import parse_record
from serving.scorer import Scorer, bucketed_batches, pad_batch
from training import synthetic
from training.config import training_params


def conversations(params_path: Path, count: int, split: str = "benchmark") -> list[dict]:
    """`count` synthetic records from the generator of params.yaml, under a split name of their own."""
    params, _ = training_params(params_path)
    config = dataclasses.replace(params.generate, conversations={split: count})
    return synthetic.generate_split(config, split)


def ours(scorer: Scorer, source: Path, folder: Path) -> float:
    started = time.perf_counter()
    summary = run_batch(scorer, source, folder / "scores.jsonl", folder / "rejects.jsonl", progress=io.StringIO())
    elapsed = time.perf_counter() - started
    assert summary.rejected == 0, "benchmark records must all be valid"
    return elapsed


def ceiling(scorer: Scorer, windows: list) -> float:
    batches = [
        pad_batch([windows[i] for i in batch])
        for batch in bucketed_batches([len(w.input_ids) for w in windows], scorer.bundle.runtime.batch_size)
    ]
    session = scorer.content_session
    started = time.perf_counter()
    for input_ids, attention in batches:
        session.run(["logits"], {"input_ids": input_ids, "attention_mask": attention})
    return time.perf_counter() - started


def hf_pipeline(model_dir: Path, texts: list[str], max_length: int, batch_size: int | None) -> float:
    from transformers import AutoModelForSequenceClassification, PreTrainedTokenizerFast, pipeline

    tokenizer = PreTrainedTokenizerFast(
        tokenizer_file=str(model_dir / "tokenizer.json"),
        unk_token="[UNK]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        pad_token="[PAD]",
        mask_token="[MASK]",
    )
    model = AutoModelForSequenceClassification.from_pretrained(model_dir)
    classify = pipeline("text-classification", model=model, tokenizer=tokenizer, device="cpu")
    options = {"top_k": None, "function_to_apply": "sigmoid", "truncation": True, "max_length": max_length}
    if batch_size:
        options["batch_size"] = batch_size
    classify(texts[:4], **options)  # warm-up
    started = time.perf_counter()
    results = classify(texts, **options)
    elapsed = time.perf_counter() - started
    assert len(results) == len(texts)
    return elapsed


def torch_eager(model_dir: Path, windows: list, max_length: int, batch_size: int) -> float:
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    batches = []
    for start in range(0, len(windows), batch_size):
        chunk = windows[start : start + batch_size]
        input_ids = torch.zeros((len(chunk), max_length), dtype=torch.long)
        attention = torch.zeros((len(chunk), max_length), dtype=torch.long)
        for row, window in enumerate(chunk):
            input_ids[row, : len(window.input_ids)] = torch.tensor(window.input_ids)
            attention[row, : len(window.input_ids)] = 1
        batches.append((input_ids, attention))
    with torch.inference_mode():
        model(input_ids=batches[0][0][:2], attention_mask=batches[0][1][:2])  # warm-up
        started = time.perf_counter()
        for input_ids, attention in batches:
            model(input_ids=input_ids, attention_mask=attention)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, default=Path("models/bundle"))
    parser.add_argument("--model", type=Path, default=Path("models/transformer"), help="fine-tuned torch model")
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--conversations", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=None, help="default: the bundle's runtime threads")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--skip", default="", help="comma-separated rows to leave out, e.g. b,b32 for a quick look")
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = parser.parse_args()

    bundle = load_bundle(args.bundle)
    threads = args.threads or bundle.runtime.intra_op_threads
    torch.set_num_threads(threads)
    scorer = Scorer.from_bundle(bundle, threads=threads)
    records = conversations(args.params, args.conversations)
    parsed = [parse_record(r, bundle.limits) for r in records]
    readable = [c for c in parsed if c.opt_in]
    messages = sum(len(c.messages) for c in readable)
    windows = [w for ws in scorer.windower.windows(readable) for w in ws]
    tokens = sum(len(w.input_ids) for w in windows)
    decode = scorer.windower.tokenizer.decode
    texts = [decode(list(w.input_ids[1:-1]), skip_special_tokens=False) for w in windows]
    max_length, batch_size = bundle.window.max_length, bundle.runtime.batch_size
    skip = set(filter(None, args.skip.split(",")))
    print(
        f"{len(records)} conversations ({len(readable)} with consent), {messages} messages, {len(windows)} windows, "
        f"{tokens / len(windows):.1f} tokens per window; {threads} threads; model {bundle.model_version}",
        flush=True,
    )

    seconds: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as folder:
        source, warm = Path(folder) / "in.jsonl", Path(folder) / "warm.jsonl"
        source.write_text("".join(json.dumps(r) + "\n" for r in records))
        warm.write_text("".join(json.dumps(r) + "\n" for r in records[:100]))
        ours(scorer, warm, Path(folder))  # warm-up: the first session runs allocate
        for _ in range(args.repeat):
            seconds["a"] = min(seconds.get("a", float("inf")), ours(scorer, source, Path(folder)))
            seconds["d"] = min(seconds.get("d", float("inf")), ceiling(scorer, windows))
            print(f"  (a) {seconds['a']:.1f} s, (d) {seconds['d']:.1f} s", flush=True)
    if "c" not in skip:
        seconds["c"] = torch_eager(args.model, windows, max_length, batch_size)
        print(f"  (c) {seconds['c']:.1f} s", flush=True)
    if "b32" not in skip:
        seconds["b32"] = hf_pipeline(args.model, texts, max_length, batch_size)
        print(f"  (b, batch_size={batch_size}) {seconds['b32']:.1f} s", flush=True)
    if "b" not in skip:
        seconds["b"] = hf_pipeline(args.model, texts, max_length, None)
        print(f"  (b) {seconds['b']:.1f} s", flush=True)

    names = {
        "a": "(a) grooming-risk score, file to file (ONNX int8, bucketed)",
        "b": "(b) transformers pipeline, one text at a time",
        "b32": f"(b') transformers pipeline, batch_size={batch_size}",
        "c": f"(c) torch eager fp32, padded to {max_length}, batches of {batch_size}",
        "d": "(d) ceiling: ONNX Runtime alone, pre-tokenised, pre-bucketed",
    }
    print()
    print("| engine | seconds | windows/s | messages/s | time vs (a) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for key in ("a", "b", "b32", "c", "d"):
        if key in seconds:
            s = seconds[key]
            print(
                f"| {names[key]} | {s:.1f} | {len(windows) / s:.1f} | {messages / s:.1f} | "
                f"{seconds[key] / seconds['a']:.2f}x |"
            )
    print()
    if "b" in seconds:
        ratio = seconds["b"] / seconds["a"]
        print(f"target (a) >= 4x (b): {ratio:.2f}x -> {'met' if ratio >= 4 else 'MISSED'}")
    share = seconds["d"] / seconds["a"]
    print(f"target (a) >= 70% of (d): {share:.0%} -> {'met' if share >= 0.7 else 'MISSED'}")
    if args.json:
        args.json.write_text(
            json.dumps({"seconds": seconds, "messages": messages, "windows": len(windows), "threads": threads})
        )


if __name__ == "__main__":
    main()
