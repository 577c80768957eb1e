"""The data card's model results: a table per split and the checks the datasheet promises."""

from evals.data_card import results_markdown


def _metrics(keyword_heldout: float, transformer_heldout: float, hard_fpr: dict[str, float]) -> dict:
    def model(roc_auc, fpr=0.1, positives=30):
        return {"n": 100, "positives": positives, "roc_auc": roc_auc, "fpr": fpr}

    return {
        "evaluation": {"splits": ["test_heldout", "hard_negatives"]},
        "bundle": {"model_version": "v-test"},
        "test_heldout": {
            "keyword": model(keyword_heldout),
            "tfidf": model(0.70),
            "transformer": model(transformer_heldout),
            "fused": model(0.80),
        },
        "hard_negatives": {name: model(None, fpr, positives=0) for name, fpr in hard_fpr.items()},
    }


def test_checks_hold_when_the_numbers_do():
    text = results_markdown(_metrics(0.80, 0.75, {"tfidf": 0.2, "transformer": 0.1, "fused": 0.05}), 0.85)
    assert "| test_heldout | 100 | 30 | 0.8000 | 0.7000 | - | 0.7500 | - | 0.8000 |" in text
    assert "| hard_negatives | 100 | 0 | - | FPR 0.2000 | - | FPR 0.1000 | - | FPR 0.0500 |" in text
    assert "BROKEN" not in text and text.count("| holds |") == 3
    assert text.count("| n/a |") == 2  # no test_human nor template_cv figures here


def test_the_trained_model_is_judged_against_the_zero_shot_baseline_where_no_template_helps():
    metrics = _metrics(0.80, 0.75, {"tfidf": 0.2, "transformer": 0.1})
    metrics["test_human"] = {"exemplar_zero_shot": {"roc_auc": 0.90}, "transformer": {"roc_auc": 0.85}}
    metrics["template_cv"] = {
        "folds": 4,
        "n": 800,
        "positives": 240,
        "models": {"exemplar_zero_shot": {"roc_auc": 0.70}, "transformer": {"roc_auc": 0.75}},
    }
    text = results_markdown(metrics, 0.85)
    assert "| template_cv (4 folds) | 800 | 240 | - | - | 0.7000 | 0.7500 | - | - |" in text
    assert "| transformer ROC-AUC above exemplar_zero_shot on test_human (hand-written) | -0.0500 | BROKEN |" in text
    assert "template_cv (held-out template families) | 0.0500 | holds |" in text


def test_each_broken_promise_is_named():
    text = results_markdown(_metrics(0.90, 0.65, {"tfidf": 0.1, "transformer": 0.2}), 0.85)
    assert text.count("BROKEN") == 3


def test_quick_run_writes_the_results_beside_the_data_card_tables(quick_run):
    results = quick_run.root / "data_cards" / "generated" / "model_results.md"
    assert results.is_file() and "| test |" in results.read_text()
