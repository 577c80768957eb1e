"""The bundle's two encoder graphs: which one `auto` picks by the CPU's flags, and that scores from
either stay within the export gate."""

import json

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

import serving.scorer
from serving.bundle import FP32, INT8, load_bundle
from serving.scorer import AUTO, EncoderChoice, Scorer, auto_encoder, choose_encoder, cpu_flags
from tests.conftest import run_cli, valid_record
from training.config import training_params
from training.data import read_split


# /proc/cpuinfo as Linux writes it, cut to the lines that matter.
def _cpuinfo(*flags: str) -> str:
    return "".join(f"processor\t: {i}\nvendor_id\t: AuthenticAMD\nflags\t\t: {f}\n\n" for i, f in enumerate(flags))


AVX2_ONLY = _cpuinfo("fpu sse2 avx avx2 fma", "fpu sse2 avx avx2 fma")
AVX512_VNNI = _cpuinfo("avx2 avx512f avx512_vnni", "avx2 avx512f avx512_vnni")
AVX_VNNI = _cpuinfo("avx2 avx_vnni")
ONE_CORE_WITHOUT = _cpuinfo("avx2 avx512_vnni", "avx2")
ARM = "processor\t: 0\nFeatures\t: fp asimd asimddp i8mm\n"

# A served probability may move this much between the graphs. The export gate bounds the ranking
# (export.max_int8_auc_delta) and the decisions (export.min_int8_decision_agreement) of the
# validation logits, not each score; on the quick profile's tiny random encoder scores moved by
# at most 0.003 on every split (mean 0.0006), and the default profile's model moved test_human's by
# at most 0.037 (mean 0.006), so 0.05 leaves room for another CPU's kernels without hiding a graph
# that reads messages differently (that moves scores by tenths).
MAX_SCORE_DIFF = 0.05


@pytest.mark.parametrize(
    ("cpuinfo", "expected"),
    [
        (AVX2_ONLY, EncoderChoice(FP32, "auto: no VNNI")),
        (AVX512_VNNI, EncoderChoice(INT8, "auto: avx512_vnni")),
        (AVX_VNNI, EncoderChoice(INT8, "auto: avx_vnni")),
        (ONE_CORE_WITHOUT, EncoderChoice(FP32, "auto: no VNNI")),
        (ARM, EncoderChoice(FP32, "auto: CPU flags unknown")),
        ("", EncoderChoice(FP32, "auto: CPU flags unknown")),
    ],
)
def test_auto_picks_int8_only_where_every_cpu_has_vnni(cpuinfo, expected):
    assert choose_encoder(AUTO, cpuinfo) == expected
    assert auto_encoder(cpu_flags(cpuinfo)) == expected


def test_an_explicit_or_settled_precision_is_kept_whatever_the_cpu():
    assert choose_encoder(INT8, AVX2_ONLY) == EncoderChoice(INT8, "requested")
    assert choose_encoder(FP32, AVX512_VNNI) == EncoderChoice(FP32, "requested")
    settled = EncoderChoice(INT8, "resumed job: the first run's choice")
    assert choose_encoder(settled, AVX2_ONLY) is settled
    with pytest.raises(ValueError, match="precision must be one of auto, fp32, int8"):
        choose_encoder("fp16", AVX2_ONLY)


def test_each_precision_opens_its_own_graph(quick_run, monkeypatch):
    bundle, opened = load_bundle(quick_run.bundle), []
    real = serving.scorer._session
    monkeypatch.setattr(serving.scorer, "_session", lambda b, name, n: opened.append(name) or real(b, name, n))
    for precision in (FP32, INT8):
        assert Scorer.from_bundle(bundle, precision=precision).encoder == EncoderChoice(precision, "requested")
    assert [name for name in opened if name.startswith("encoder")] == ["encoder_fp32.onnx", "encoder.onnx"]


def test_scores_of_either_graph_agree_within_the_export_gate(quick_run):
    """The final risk scores of the same records through fp32 and int8: each within MAX_SCORE_DIFF,
    and the ranking and the alert decisions within the gate export applied to validation."""
    params, _ = training_params(quick_run.root / "params.yaml", "quick")
    bundle = load_bundle(quick_run.bundle)
    conversations = read_split(quick_run.root / params.paths.data, "test", params.limits).conversations
    scores = {p: Scorer.from_bundle(bundle, precision=p).score(conversations) for p in (FP32, INT8)}
    fp32, int8 = (np.asarray([s.risk_score for s in scores[p]]) for p in (FP32, INT8))
    assert np.max(np.abs(fp32 - int8)) <= MAX_SCORE_DIFF
    labels = np.asarray([c.label for c in conversations])
    assert abs(roc_auc_score(labels, int8) - roc_auc_score(labels, fp32)) <= params.export.max_int8_auc_delta
    fp32_bands, int8_bands = ([s.risk_band for s in scores[p]] for p in (FP32, INT8))
    agreement = np.mean([(a == "low") == (b == "low") for a, b in zip(fp32_bands, int8_bands, strict=True)])
    assert agreement >= params.export.min_int8_decision_agreement


@pytest.mark.parametrize("precision", [FP32, INT8])
def test_score_runs_the_graph_asked_for_and_says_so(quick_run, tmp_path, capsys, precision):
    source, out = tmp_path / "in.jsonl", tmp_path / "scores.jsonl"
    source.write_text(json.dumps(valid_record()) + "\n")
    assert (
        run_cli("score", "--bundle", quick_run.bundle, "--input", source, "--output", out, "--precision", precision)
        == 0
    )
    assert f"encoder: {precision} (requested)\n" in capsys.readouterr().out


def test_score_says_which_graph_auto_chose(quick_run, tmp_path, capsys):
    source, out = tmp_path / "in.jsonl", tmp_path / "scores.jsonl"
    source.write_text(json.dumps(valid_record()) + "\n")
    assert run_cli("score", "--bundle", quick_run.bundle, "--input", source, "--output", out) == 0
    assert f"encoder: {choose_encoder(AUTO)}\n" in capsys.readouterr().out
