"""ONNX export of the content model: the message encoder (fp32 export and ONNX Runtime transformer
fusion, shipped as it is and int8-quantised: the scorer picks one by the CPU) and the conversation
model (fp32), and the parity numbers that gate them."""

from __future__ import annotations

import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import helper, numpy_helper
from sklearn.metrics import roc_auc_score

from serving.scorer import EVIDENCE_WIDTH
from training.model import ConversationModel, MessageEncoder

FUSED_OPERATORS = (
    "Attention",
    "MultiHeadAttention",
    "SkipLayerNormalization",
    "EmbedLayerNormalization",
    "Gelu",
    "FastGelu",
    "BiasGelu",
    "LayerNormalization",
)


class ExportGateError(RuntimeError):
    """A parity gate failed: the exported model does not match what was trained."""


def _int64(graph: onnx.GraphProto, name: str, values: list[int] | int) -> str:
    graph.initializer.append(numpy_helper.from_array(np.asarray(values, dtype=np.int64), name))
    return name


def replace_nodes(graph: onnx.GraphProto, nodes: list[onnx.NodeProto]) -> None:
    """Make `nodes` the graph's nodes and drop the initializers none of them reads."""
    del graph.node[:]
    graph.node.extend(nodes)
    used = {name for node in graph.node for name in node.input}
    kept = [i for i in graph.initializer if i.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)


def match_ort_fusion_patterns(model: onnx.ModelProto) -> None:
    """Rewrite two spots of a dynamo-exported BERT graph into the forms ONNX Runtime's
    transformer fusions look for (checked against onnxruntime 1.32's fusion_attention.py
    and fusion_embedlayer.py):
    - onnxscript merges `mask[:, None, None, :]` into one Unsqueeze with two axes; the
      attention-mask pattern expects two Unsqueeze nodes;
    - the position-ids Slice ends at `Shape(attention_mask)[1:2]`; the embedding pattern
      expects `Unsqueeze(Gather(Shape(input_ids), 1), 0)`."""
    graph = model.graph
    initializers = {i.name: i for i in graph.initializer}
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    nodes: list[onnx.NodeProto] = []
    for node in graph.node:
        if node.op_type == "Unsqueeze" and len(node.input) == 2 and node.input[1] in initializers:
            axes = sorted(numpy_helper.to_array(initializers[node.input[1]]).ravel().tolist())
            if len(axes) > 1 and all(axis >= 0 for axis in axes):
                current = node.input[0]
                for k, axis in enumerate(axes):
                    output = node.output[0] if k == len(axes) - 1 else f"{node.name}_split{k}"
                    axes_name = _int64(graph, f"{node.name}_axes{k}", [axis])
                    nodes.append(
                        helper.make_node("Unsqueeze", [current, axes_name], [output], name=f"{node.name}_split{k}")
                    )
                    current = output
                continue
        feeds_positions = any(
            c.op_type == "Gather" and "position" in c.input[0] for c in consumers.get(node.output[0], [])
        )
        if node.op_type == "Slice" and node.input[0] in initializers and feeds_positions:
            prefix = f"{node.name}_pos"
            nodes += [
                helper.make_node("Shape", ["input_ids"], [f"{prefix}_shape"], name=f"{prefix}_shape"),
                helper.make_node(
                    "Gather",
                    [f"{prefix}_shape", _int64(graph, f"{prefix}_one", 1)],
                    [f"{prefix}_len"],
                    name=f"{prefix}_gather",
                    axis=0,
                ),
                helper.make_node(
                    "Unsqueeze",
                    [f"{prefix}_len", _int64(graph, f"{prefix}_axis", [0])],
                    [f"{prefix}_end"],
                    name=f"{prefix}_unsqueeze",
                ),
            ]
            node.input[2] = f"{prefix}_end"
        nodes.append(node)
    replace_nodes(graph, nodes)
    onnx.checker.check_model(model)


def _export(
    module: torch.nn.Module, example: tuple, path: Path, opset: int, names: dict, axes: dict
) -> onnx.ModelProto:
    """A single-file ONNX graph of `module` (dynamo exporter) with the dynamic axes `axes`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    dims = {name: {axis: torch.export.Dim(label) for axis, label in spec.items()} for name, spec in axes.items()}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            module.eval(),
            example,
            input_names=names["inputs"],
            output_names=names["outputs"],
            dynamic_shapes=dims,
            opset_version=opset,
            dynamo=True,
        )
    return program.model_proto


def export_encoder(encoder: MessageEncoder, path: Path, opset: int) -> None:
    """The message encoder in fp32: (input_ids, attention_mask) -> embeddings, dynamic batch and
    sequence axes, rewritten for ONNX Runtime's fusions."""
    input_ids = torch.randint(1000, 2000, (2, 16), dtype=torch.long)
    attention = torch.ones_like(input_ids)
    attention[1, 10:] = 0
    axes = {"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"}}
    names = {"inputs": ["input_ids", "attention_mask"], "outputs": ["embeddings"]}
    graph = _export(encoder, (input_ids, attention), path, opset, names, axes)
    match_ort_fusion_patterns(graph)
    onnx.save(graph, str(path))


def export_conversation_model(model: ConversationModel, path: Path, opset: int) -> None:
    """The conversation model in fp32: (embeddings, roles, evidence) -> (logits, evidence_out),
    dynamic batch and message axes. Its outputs' recorded shapes are cleared to symbolic names:
    the exporter fixes the message axis of the example there, though the graph takes any length."""
    if model.evidence_width != EVIDENCE_WIDTH:
        raise ValueError(
            f"the conversation model carries {model.evidence_width} evidence values; the scorer {EVIDENCE_WIDTH}"
        )
    embeddings = torch.zeros((2, 7, model.exemplars.shape[1]), dtype=torch.float32)
    roles = torch.zeros((2, 7), dtype=torch.long)
    evidence = torch.zeros((2, model.evidence_width), dtype=torch.float32)
    axes = {
        "embeddings": {0: "batch", 1: "messages"},
        "roles": {0: "batch", 1: "messages"},
        "evidence": {0: "batch"},
    }
    names = {"inputs": ["embeddings", "roles", "evidence"], "outputs": ["logits", "evidence_out"]}
    graph = _export(model, (embeddings, roles, evidence), path, opset, names, axes)
    for output in graph.graph.output:
        dims = output.type.tensor_type.shape.dim
        dims[0].dim_param, dims[1].dim_param = "batch", "messages"
    onnx.checker.check_model(graph)
    onnx.save(graph, str(path))


def optimize(path_in: Path, path_out: Path, num_heads: int, hidden_size: int) -> dict[str, int]:
    """ONNX Runtime's BERT fusions; the count of each fused operator in the result. The raw
    attention mask keeps any padding layout exact (the default assumes right padding).
    Attention fuses as MultiHeadAttention, which leaves the Q, K and V projections as MatMuls
    that `quantize_int8` can quantise like every other (the Attention operator holds them)."""
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    options = FusionOptions("bert")
    options.use_raw_attention_mask(True)
    options.use_multi_head_attention = True
    optimized = optimize_model(
        str(path_in), model_type="bert", num_heads=num_heads, hidden_size=hidden_size, optimization_options=options
    )
    optimized.save_model_to_file(str(path_out), use_external_data_format=False)
    counts = Counter(node.op_type for node in onnx.load(str(path_out)).graph.node)
    return {name: counts.get(name, 0) for name in FUSED_OPERATORS}


def quantize_int8(path_in: Path, path_out: Path, block_size: int, accuracy_level: int) -> None:
    """int8 weights everywhere, and no activation scale shared across a batch.

    1. EmbedLayerNormalization: its tables to int8, per channel (a lookup: only weights).
    2. Every MatMul and Gemm: MatMulNBits, 8-bit asymmetric weights in blocks of `block_size`
       along the input; `accuracy_level` 4 computes in int8 with activations quantised per row
       and block. Plain dynamic int8 quantises each MatMul input with one scale per batch
       tensor, and the LayerNorm and GELU outputs feeding them carry outlier channels 10-17x
       the median: on the default data of the earlier window model it missed the 99%
       decision-agreement gate (0.9898), and a window's logits moved with its batch
       neighbours (benchmarks/int8_variants.py compares the recipes on the encoder).
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    path_out.parent.mkdir(parents=True, exist_ok=True)
    embeddings_only = path_out.with_name(path_out.stem + ".embeddings_int8.onnx")
    quantize_dynamic(
        str(path_in),
        str(embeddings_only),
        weight_type=QuantType.QInt8,
        per_channel=True,
        op_types_to_quantize=["EmbedLayerNormalization"],
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )
    matmul_nbits(embeddings_only, path_out, block_size, accuracy_level)
    embeddings_only.unlink()


def matmul_nbits(path_in: Path, path_out: Path, block_size: int, accuracy_level: int) -> None:
    """Every fp32 MatMul and Gemm of `path_in` as MatMulNBits: 8-bit asymmetric weights in blocks."""
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

    quantizer = MatMulNBitsQuantizer(
        onnx.load(str(path_in)), bits=8, block_size=block_size, is_symmetric=False, accuracy_level=accuracy_level
    )
    quantizer.process()
    quantizer.model.save_model_to_file(str(path_out), use_external_data_format=False)


def session(path: Path, threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def int8_parity(
    labels: np.ndarray, fp32_scores: np.ndarray, int8_scores: np.ndarray, threshold: float
) -> dict[str, float]:
    """ROC-AUC change and decision agreement of the int8 model against fp32 at `threshold`."""
    fp32_auc, int8_auc = float(roc_auc_score(labels, fp32_scores)), float(roc_auc_score(labels, int8_scores))
    return {
        "fp32_roc_auc": fp32_auc,
        "int8_roc_auc": int8_auc,
        "int8_auc_delta": int8_auc - fp32_auc,
        "int8_decision_agreement": float(np.mean((fp32_scores >= threshold) == (int8_scores >= threshold))),
    }
