"""MODEL_CARD.md: the Hugging Face model card layout (YAML front matter the Hub's own parser
reads, its `model-index` equal to metrics.json, the template's sections), the same content as the
report's model card, small groups marked in both, and no message text."""

from __future__ import annotations

from huggingface_hub import ModelCard

from evals.model_card import INDEX_METRICS, MODEL_CARD_MD, SMALL, model_card, model_card_markdown
from tests.test_evals_pipeline import texts_of

SECTIONS = (
    "# Model Card for grooming-risk",
    "## Model Details",
    "## Uses",
    "### Out-of-Scope Use",
    "## Bias, Risks, and Limitations",
    "### Training Data",
    "## Evaluation",
    "## How to Get Started with the Model",
)
GROUP = {"positives": 2, "negatives": 30, "fpr": {}, "fnr": {}}
METRICS = {
    "evaluation": {"splits": ["validation", "test", "hard_negatives"], "threshold_split": "validation"},
    "validation": {"fused": {"n": 40, "roc_auc": 0.95, "pr_auc": 0.9, "f0_5": 0.8, "fpr": 0.04}},
    "test": {
        "fused": {"n": 40, "roc_auc": 0.91234, "roc_auc_ci": [0.8, 0.97], "pr_auc": 0.8, "f0_5": 0.7, "fpr": 0.05}
    },
    "hard_negatives": {"fused": {"n": 30, "roc_auc": None, "pr_auc": None, "f0_5": 0.0, "fpr": 0.1}},
    "fairness": {
        "split": "test",
        "columns": {
            "style": {
                "groups": {
                    "textspeak": GROUP
                    | {"subgroup_auc": 0.75, "subgroup_auc_ci": [0.5, 1.0], "subgroup_auc_small": True}
                    | {"bpsn_auc": 0.9, "bpsn_auc_ci": [0.85, 0.95], "bpsn_auc_small": False}
                    | {"bnsp_auc": 0.6, "bnsp_auc_ci": [0.3, 0.9], "bnsp_auc_small": True},
                    "emoji_heavy": GROUP
                    | {"subgroup_auc": None, "subgroup_auc_ci": [None, None], "subgroup_auc_small": True}
                    | {"bpsn_auc": 0.8, "bpsn_auc_ci": [0.6, 0.9], "bpsn_auc_small": True}
                    | {"bnsp_auc": None, "bnsp_auc_ci": [None, None], "bnsp_auc_small": True},
                }
            }
        },
    },
    "gates": {"verdict": "fail", "groups": ["style"], "min_group_size": 10, "gates": {}},
}
MANIFEST = {"model_version": "v-test", "labels": ["risk"]}


def front_matter_of(text: str, tmp_path) -> ModelCard:
    path = tmp_path / MODEL_CARD_MD
    path.write_text(text, encoding="utf-8")
    return ModelCard.load(path)


def expected_results(metrics: dict) -> dict[tuple[str, str], float]:
    """Every defined figure of the served score on every split but the threshold split."""
    return {
        (split, key): metrics[split]["fused"][key]
        for split in metrics["evaluation"]["splits"]
        if split != metrics["evaluation"]["threshold_split"]
        for key, _ in INDEX_METRICS
        if metrics.get(split, {}).get("fused", {}).get(key) is not None
    }


def indexed_results(card: ModelCard) -> dict[tuple[str, str], float]:
    return {(r.dataset_split, r.metric_type): r.metric_value for r in card.data.eval_results}


def test_front_matter_is_a_hub_model_card_with_the_evaluation_results(tmp_path):
    card = front_matter_of(model_card_markdown(METRICS, MANIFEST, {"transformer": {"init": "random"}}), tmp_path)
    assert card.data.license == "apache-2.0" and card.data.language == ["en"]
    assert card.data.pipeline_tag == "text-classification" and card.data.library_name == "onnx"
    assert card.data.model_name == "grooming-risk v-test"
    assert indexed_results(card) == expected_results(METRICS)
    assert ("hard_negatives", "roc_auc") not in indexed_results(card)  # undefined: left out, not null
    assert not any(split == "validation" for split, _ in indexed_results(card))  # the bands were chosen there
    assert card.data.base_model is None  # the quick profile's random BERT starts from no model
    with_base = front_matter_of(model_card_markdown(METRICS, MANIFEST, {"transformer": {}}), tmp_path)
    assert with_base.data.base_model == "sentence-transformers/all-MiniLM-L6-v2"


def test_markdown_and_html_cards_share_their_content_and_mark_small_groups():
    markdown = model_card_markdown(METRICS, MANIFEST, {})
    html = model_card(METRICS, MANIFEST, {})
    for heading in SECTIONS:
        assert f"\n{heading}" in markdown, heading
        assert heading.lstrip("# ") in html, heading
    row = next(line for line in markdown.splitlines() if line.startswith("| style | textspeak |"))
    assert row == f"| style | textspeak | 0.75 [0.5, 1] ({SMALL}) | 0.9 [0.85, 0.95] | 0.6 [0.3, 0.9] ({SMALL}) |"
    assert f"| style | emoji_heavy | n/a | 0.8 [0.6, 0.9] ({SMALL}) | n/a |" in markdown  # undefined: no mark
    assert html.count(f"({SMALL})") == markdown.count(f"({SMALL})") == 3
    assert "<code>grooming-risk score" in html and "`grooming-risk score" in markdown


def test_the_quick_run_writes_model_card_md_from_its_metrics(quick_run, tmp_path):
    metrics = quick_run.read_json("reports/metrics.json")
    path = quick_run.reports / MODEL_CARD_MD
    text = path.read_text(encoding="utf-8")
    card = ModelCard.load(path)
    assert indexed_results(card) == expected_results(metrics) and len(expected_results(metrics)) > 3
    for heading in SECTIONS:
        assert f"\n{heading}" in text, heading
    small = [
        name
        for column in metrics["gates"]["groups"]
        for group in metrics["fairness"]["columns"].get(column, {}).get("groups", {}).values()
        for name in ("subgroup_auc", "bpsn_auc", "bnsp_auc")
        if group[f"{name}_small"] and group[name] is not None
    ]
    assert small and text.count(f"({SMALL})") == len(small)
    texts = texts_of(quick_run.root / "data" / "synthetic" / "test.jsonl")
    assert texts and not [t for t in texts if t in text]


def test_the_registered_bundle_model_holds_the_model_card(quick_run):
    from mlflow import MlflowClient

    from evals.tracking import bundle_model

    metrics = quick_run.read_json("reports/metrics.json")
    client = MlflowClient(tracking_uri=f"sqlite:///{quick_run.root / 'mlflow.db'}")
    model = bundle_model(client, metrics["registry"]["evaluation_run_id"])
    assert model is not None
    assert MODEL_CARD_MD in {a.path for a in client.list_logged_model_artifacts(model.model_id)}
    version = client.get_model_version(metrics["registry"]["name"], metrics["registry"]["version"])
    assert version.source == f"models:/{model.model_id}"  # the registered version is that model
