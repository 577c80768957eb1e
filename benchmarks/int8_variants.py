"""Speed against fidelity of int8 quantisation recipes for the message encoder, on validation:

    .venv/bin/python benchmarks/int8_variants.py [--models models] [--params params.yaml] [--threads N]

Run after `make run`: it reads the fused fp32 encoder graph (`models/onnx/encoder_fp32_optimized.onnx`),
quantises it each way, and encodes the validation messages with each result. Per recipe it prints
the seconds to encode those messages; the conversation-level decision agreement with fp32, each
recipe's embeddings read by the bundle's conversation model (`conversation.onnx`, the risk after
the last message), at the fp32 alert threshold (recall >= thresholds.medium_min_recall, as the
export gate); the mean |change| of that conversation logit; and the batch effect: the largest
change of a message's embedding when it is encoded alone instead of in its batch. A batch effect
above zero means a record's score depends on its neighbours in the file, so a resumed job could
not give identical output.

Recipes:
- shipped: `training.export.quantize_int8` with export.int8_block_size (MatMulNBits everywhere);
- nbits_block128: the same with blocks of 128;
- dynamic: plain dynamic int8 (MatMulInteger, per-channel weights, one activation scale per batch);
- dynamic_but_ffn_out: dynamic int8 except the FFN output MatMuls (fed by GELU), which stay MatMulNBits;
- per_token: each MatMul rewritten as MatMulInteger on activations quantised per token (symmetric,
  stored as uint8 around 128) and weights per output column: no scale crosses tokens or the batch.
Numbers only: no text is printed.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from onnxruntime.quantization import QuantType, quantize_dynamic

from serving.bundle import CONVERSATION_MODEL
from serving.operating import threshold_for_recall
from serving.schema import labels_of, with_consent
from serving.scorer import conversation_logits, final_risk_logits, session_embeddings, session_runner
from serving.text import MessageTokenizer, load_tokenizer, message_token_ids, per_conversation
from training import export
from training.config import training_params
from training.data import VALIDATION, read_split


def gelu_fed_matmuls(path: Path) -> list[str]:
    """Names of the MatMuls whose input is a GELU output: the FFN output projections."""
    graph = onnx.load(str(path)).graph
    producer = {output: node.op_type for node in graph.node for output in node.output}
    return [n.name for n in graph.node if n.op_type == "MatMul" and "Gelu" in producer.get(n.input[0], "")]


def dynamic_int8(path_in: Path, path_out: Path, exclude: list[str]) -> None:
    """Dynamic int8 on the embeddings and every MatMul not in `exclude`."""
    graph = onnx.load(str(path_in)).graph
    quantized = [n.name for n in graph.node if n.op_type in ("MatMul", "EmbedLayerNormalization")]
    quantize_dynamic(
        str(path_in),
        str(path_out),
        weight_type=QuantType.QInt8,
        per_channel=True,
        nodes_to_quantize=[name for name in quantized if name not in exclude],
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )


def per_token_int8(path_in: Path, path_out: Path) -> None:
    """Every MatMul with a weight initializer becomes: rows = tokens; scale_row = max|x_row| / 127;
    x_q = QuantizeLinear(x, scale_row, 128) as uint8; MatMulInteger(x_q, w_q) with zero point 128
    (the u8 x s8 kernel); times scale_row and the weight's per-column scale."""
    model = onnx.load(str(path_in))
    graph = model.graph
    weights = {i.name: i for i in graph.initializer}

    def constant(name: str, value: np.ndarray) -> str:
        graph.initializer.append(numpy_helper.from_array(value, name))
        return name

    nodes: list[onnx.NodeProto] = []
    for node in graph.node:
        if node.op_type != "MatMul" or node.input[1] not in weights:
            nodes.append(node)
            continue
        weight = numpy_helper.to_array(weights[node.input[1]]).astype(np.float32)
        inner, outer = weight.shape
        column_scale = (np.maximum(np.abs(weight).max(axis=0), 1e-8) / 127.0).astype(np.float32)
        quantized = np.clip(np.round(weight / column_scale), -127, 127).astype(np.int8)
        p = f"{node.name}_per_token"
        nodes += [
            helper.make_node("Shape", [node.input[0]], [f"{p}_shape"]),
            helper.make_node("Reshape", [node.input[0], constant(f"{p}_rows", np.array([-1, inner]))], [f"{p}_x"]),
            helper.make_node("Abs", [f"{p}_x"], [f"{p}_abs"]),
            helper.make_node("ReduceMax", [f"{p}_abs", constant(f"{p}_axis", np.array([1]))], [f"{p}_max"], keepdims=1),
            helper.make_node("Max", [f"{p}_max", constant(f"{p}_eps", np.array(1e-8, np.float32))], [f"{p}_safe"]),
            helper.make_node("Div", [f"{p}_safe", constant(f"{p}_127", np.array(127.0, np.float32))], [f"{p}_scale"]),
            helper.make_node("Reshape", [f"{p}_scale", constant(f"{p}_flat", np.array([-1]))], [f"{p}_scale1d"]),
            helper.make_node("Shape", [f"{p}_scale1d"], [f"{p}_count"]),
            helper.make_node(
                "ConstantOfShape",
                [f"{p}_count"],
                [f"{p}_zero"],
                value=numpy_helper.from_array(np.array([128], np.uint8)),
            ),
            helper.make_node("QuantizeLinear", [f"{p}_x", f"{p}_scale1d", f"{p}_zero"], [f"{p}_xq"], axis=0),
            helper.make_node(
                "MatMulInteger",
                [f"{p}_xq", constant(f"{p}_w", quantized), constant(f"{p}_x_zero", np.array(128, np.uint8))],
                [f"{p}_acc"],
            ),
            helper.make_node("Cast", [f"{p}_acc"], [f"{p}_accf"], to=TensorProto.FLOAT),
            helper.make_node("Mul", [f"{p}_accf", f"{p}_scale"], [f"{p}_rowed"]),
            helper.make_node("Mul", [f"{p}_rowed", constant(f"{p}_w_scale", column_scale)], [f"{p}_y"]),
            helper.make_node(
                "Slice",
                [f"{p}_shape", constant(f"{p}_0", np.array([0])), constant(f"{p}_-1", np.array([-1]))],
                [f"{p}_lead"],
            ),
            helper.make_node(
                "Concat", [f"{p}_lead", constant(f"{p}_out", np.array([outer]))], [f"{p}_out_shape"], axis=0
            ),
            helper.make_node("Reshape", [f"{p}_y", f"{p}_out_shape"], [node.output[0]]),
        ]
    export.replace_nodes(graph, nodes)
    onnx.save(model, str(path_out))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=Path, default=Path("models"))
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--threads", type=int, default=None, help="default: runtime.intra_op_threads")
    args = parser.parse_args()
    params, _ = training_params(args.params)
    threads = args.threads or params.runtime.intra_op_threads
    runtime = params.runtime
    fp32 = args.models / "onnx" / "encoder_fp32_optimized.onnx"
    tokenizer = MessageTokenizer(load_tokenizer(str(args.models / "transformer" / "tokenizer.json")), params.message)
    readable = with_consent(read_split(params.paths.data, VALIDATION, params.limits).conversations)
    labels = np.asarray(labels_of(readable))
    encoded = tokenizer.encode(readable)
    token_ids, roles = message_token_ids(encoded), [c.roles for c in encoded]
    probe = token_ids[: params.export.batch_effect_messages]
    conversation = export.session(args.models / "bundle" / CONVERSATION_MODEL, threads)
    block, level = params.export.int8_block_size, params.export.int8_accuracy_level

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        recipes = {"fp32": fp32}
        recipes["shipped"] = folder / "shipped.onnx"
        export.quantize_int8(fp32, recipes["shipped"], block, level)
        recipes["nbits_block128"] = folder / "nbits_block128.onnx"
        export.quantize_int8(fp32, recipes["nbits_block128"], 128, level)
        recipes["dynamic"] = folder / "dynamic.onnx"
        dynamic_int8(fp32, recipes["dynamic"], exclude=[])
        recipes["dynamic_but_ffn_out"] = folder / "dynamic_but_ffn_out.onnx"
        dynamic_int8(fp32, folder / "partial.onnx", exclude=gelu_fed_matmuls(fp32))
        export.matmul_nbits(folder / "partial.onnx", recipes["dynamic_but_ffn_out"], block, level)
        recipes["per_token"] = folder / "per_token.onnx"
        per_token_int8(fp32, recipes["per_token"])

        print(f"{len(readable)} validation conversations, {len(token_ids)} messages, {threads} threads", flush=True)
        reference, threshold = None, None
        for name, path in recipes.items():
            session = export.session(path, threads)
            session_embeddings(session, token_ids[:64], runtime.message_batch_size)  # warm-up
            started = time.perf_counter()
            embeddings = session_embeddings(session, token_ids, runtime.message_batch_size)
            seconds = time.perf_counter() - started
            alone = np.concatenate([session_embeddings(session, [ids], 1) for ids in probe])
            logits, _ = conversation_logits(
                session_runner(conversation),
                per_conversation(embeddings, encoded),
                roles,
                runtime.conversation_batch_size,
                runtime.segment_messages,
            )
            scores = final_risk_logits(logits)
            if reference is None:
                reference = scores
                threshold = threshold_for_recall(labels, scores, params.thresholds.medium_min_recall)
            row = {
                "recipe": name,
                "seconds": round(seconds, 3),
                "messages_per_second": round(len(token_ids) / seconds, 1),
                "decision_agreement": round(float(np.mean((scores >= threshold) == (reference >= threshold))), 4),
                "mean_abs_logit_change": round(float(np.mean(np.abs(scores - reference))), 4),
                "batch_effect_max_abs_embedding": round(float(np.max(np.abs(alone - embeddings[: len(probe)]))), 6),
                "megabytes": round(path.stat().st_size / 1e6, 1),
            }
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
