"""The release gate on a fixture model: one that scores one group's benign conversations higher
fails the fairness gate, and the report names the gate and the group; the same model without
the bias passes that gate. Everything after scoring runs the evaluation's own code."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest

from evals.config import eval_params
from evals.evaluate import analyse, score_split
from evals.figures import draw_all
from evals.gates import FAIL, NO_DATA, PASS, evaluate_gates
from evals.report import render_report
from serving.schema import MODE_CONTENT, SIGNALS, Limits, parse_record
from serving.scorer import ConversationScore
from tests.conftest import ROOT

LIMITS = Limits(max_messages=50, max_message_chars=400, max_record_bytes=100_000)
IDENTITIES = ("none", "lgbtq", "religion")
BANDS = (0.9, 0.5)  # high, medium


def fixture_records(n: int, seed: int) -> list:
    """Benign-text records with labels and groups; the text plays no part (the model is a fake)."""
    rng = np.random.default_rng(seed)
    records = []
    for i in range(n):
        label = int(rng.random() < 0.3)
        records.append(
            parse_record(
                {
                    "conversation_id": f"fx-{i:04d}",
                    "opt_in": True,
                    "participants": [
                        {"id": "u1", "role": "reporter", "age_band": "13-15"},
                        {"id": "u2", "role": "reported", "age_band": "adult"},
                    ],
                    "messages": [
                        {"sender": "u2", "text": "synthetic example: see you at practice", "signals": []},
                        {"sender": "u1", "text": "synthetic example: ok", "signals": ["secrecy"] if label else []},
                    ],
                    "label": label,
                    "signals": ["secrecy"] if label else [],
                    "groups": {
                        "identity_mention": IDENTITIES[i % 3],
                        "style": "standard" if i % 2 else "textspeak",
                        "relationship": "stranger" if label else "coach",
                    },
                },
                LIMITS,
            )
        )
    return records


class GroupBiasedModel:
    """Scores risky conversations high and benign ones low, plus `bias` for one identity group."""

    def __init__(self, biased_group: str | None, bias: float, seed: int) -> None:
        self.biased_group, self.bias, self.rng = biased_group, bias, np.random.default_rng(seed)

    def score(self, conversations):
        results = []
        for c in conversations:
            base = 0.55 + 0.45 * self.rng.random() if c.label else 0.35 * self.rng.random()
            if c.groups["identity_mention"] == self.biased_group and not c.label:
                base = min(1.0, base + self.bias)
            band = "high" if base >= BANDS[0] else "medium" if base >= BANDS[1] else "low"
            results.append(
                ConversationScore(
                    conversation_id=c.conversation_id,
                    risk_score=base,
                    risk_band=band,
                    signals={s: base if s in c.signals else 0.1 for s in SIGNALS},
                    alert_message_index=1 if band != "low" else None,
                    top_message_indices=[1],
                    mode=MODE_CONTENT,
                    content_score=base,
                    metadata_score=0.5,
                    metadata_used=[],
                )
            )
        return results


@pytest.fixture(scope="module")
def params():
    loaded = eval_params(ROOT / "params.yaml")
    evaluate = dataclasses.replace(
        loaded.evaluate,
        bootstrap=dataclasses.replace(loaded.evaluate.bootstrap, resamples=100),
        fairness_split="test",
        threshold_split="validation",
        calibration=dataclasses.replace(loaded.evaluate.calibration, split="test"),
        early_detection=dataclasses.replace(loaded.evaluate.early_detection, split="test"),
    )
    return dataclasses.replace(loaded, evaluate=evaluate)


def evaluate_fixture(params, biased_group: str | None) -> dict:
    model = GroupBiasedModel(biased_group, bias=0.6, seed=1)
    scored = {
        "validation": score_split("validation", fixture_records(120, 1), model, None, 50),
        "test": score_split("test", fixture_records(300, 2), model, None, 50),
    }
    return analyse(scored, {"fused": 0.5, "transformer": 0.5, "metadata": 0.5}, params), scored


def verdict_section(html: str) -> str:
    return html[: html.index("<nav>")]


def test_a_model_that_scores_one_group_higher_fails_the_fairness_gate_and_the_report_names_it(params, tmp_path):
    metrics, scored = evaluate_fixture(params, biased_group="lgbtq")
    gates = metrics["gates"]
    assert gates["verdict"] == FAIL
    gap = gates["gates"]["group_fpr_gap"]
    assert gap["status"] == FAIL
    assert gap["detail"].startswith("identity_mention: lgbtq")
    assert gap["value"] > params.gates.max_group_fpr_gap
    assert gates["gates"]["bpsn_auc"]["status"] == FAIL
    assert "identity_mention: lgbtq" in gates["gates"]["bpsn_auc"]["detail"]
    assert gates["gates"]["hard_negative_fpr"]["status"] == NO_DATA  # the suite was not scored here

    metrics["figures"] = draw_all(scored, metrics, tmp_path / "figures", tmp_path)
    assert "fairness_fpr/identity_mention" in metrics["figures"]
    html = render_report(metrics, {"model_version": "fixture", "thresholds": {}}, tmp_path)
    top = verdict_section(html)
    assert "Release verdict: FAIL" in top
    row = re.search(r"<tr><td>group_fpr_gap</td>.*?</tr>", top).group(0)
    assert "fail" in row and "identity_mention: lgbtq" in row
    assert "synthetic example" not in html  # ids and numbers only


def test_the_same_model_without_the_bias_passes_the_fairness_gates(params):
    metrics, _ = evaluate_fixture(params, biased_group=None)
    gates = metrics["gates"]["gates"]
    assert gates["group_fpr_gap"]["status"] == PASS
    assert gates["subgroup_auc"]["status"] == PASS
    assert gates["bpsn_auc"]["status"] == PASS
    assert metrics["gates"]["verdict"] == FAIL  # the suites were not scored: no data never ships
    assert metrics["test"]["fused"]["roc_auc"] == pytest.approx(1.0)


def test_hand_written_recall_and_real_chitchat_fpr_are_gated():
    params = eval_params(ROOT / "params.yaml")
    gates_config = params.gates

    def rates(recall_k, fpr_k, n=100):
        return {
            "bands": {
                band: {
                    "recall": {"value": recall_k / n, "k": recall_k, "n": n},
                    "fpr": {"value": fpr_k / n, "k": fpr_k, "n": n},
                }
                for band in ("high", "medium")
            }
        }

    def judged(human_recall_k, chitchat_fpr_k):
        false_positives = {
            "splits": {
                gates_config.human_split: rates(human_recall_k, 0),
                gates_config.chitchat_split: rates(0, chitchat_fpr_k),
            }
        }
        found = evaluate_gates(
            {"false_positives": false_positives}, gates_config, {"hard_negatives": "x", "external_benign": "y"}, "test"
        )
        return {g.name: g for g in found}

    passing = judged(90, 2)
    assert passing["human_recall"].status == PASS and passing["chitchat_fpr"].status == PASS
    failing = judged(70, 4)
    assert failing["human_recall"].status == FAIL and failing["chitchat_fpr"].status == FAIL
    assert "70 of 100 risky" in failing["human_recall"].detail
    missing = {
        g.name: g for g in evaluate_gates({}, gates_config, {"hard_negatives": "x", "external_benign": "y"}, "test")
    }
    assert missing["human_recall"].status == NO_DATA and missing["chitchat_fpr"].status == NO_DATA
