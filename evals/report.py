"""The auditors' report: one self-contained HTML file (figures inlined as base64 PNG, no script,
no external resource) built from `metrics.json`, the figures and the bundle manifest.
The verdict comes first, then detection, false positives, fairness, early warning,
calibration, the model card and provenance. It carries ids and numbers only, never message text.
The report stage also writes the model card as MODEL_CARD.md beside it (evals/model_card.py) and logs
the report, the model card and the datasheets to the evaluation run in the layout the report's
relative links expect (`evaluation/` and `data_cards/`)."""

from __future__ import annotations

import base64
import json
import posixpath
from html import escape
from pathlib import Path

from evals import tracking
from evals.config import eval_params
from evals.data_card import write_results
from evals.evaluate import GAINS, METRICS, MODES, gain_key
from evals.model_card import BIAS_AUCS, DATA_BASIS, DATA_CARD, MODEL_CARD_MD, SMALL, model_card, write_model_card
from serving.bundle import MANIFEST
from serving.params import load_params
from serving.schema import SIGNALS

REPORT = "index.html"
# The report's folder in the MLflow run; one level deep like reports/, so that a relative link of
# the report resolves to the same artifact path as it resolves to a file beside reports/.
REPORT_ARTIFACTS = "evaluation"
DATA_CARDS = posixpath.dirname(DATA_CARD)  # the datasheets' folder, relative to the report
DATASHEETS = (
    "synthetic.md",
    "test_human.md",
    "chitchat.md",
    "exemplars.md",
    "licensed_sources.md",
    "generated/model_results.md",
)
MODEL_NOTES = {
    "fused": "served score: content and metadata fused (records with consent to read content)",
    "transformer": "content model alone (message encoder + exemplar head), calibrated (same records)",
    "tfidf": "TF-IDF + logistic regression baseline, judged from training's predictions (same records)",
    "keyword": "keyword baseline, judged from training's predictions (same records)",
    "metadata": "metadata model alone, as served for records without consent (all records)",
}
DETECTION_COLUMNS = (
    ("roc_auc", "ROC-AUC"),
    ("pr_auc", "PR-AUC"),
    ("f1", "F1"),
    ("f0_5", "F0.5"),
    ("precision_at_recall", "precision at recall target"),
    ("recall_at_fpr", "recall at FPR target"),
    ("precision", "precision"),
    ("recall", "recall"),
    ("fpr", "FPR"),
)
STYLE = """
body{font-family:system-ui,sans-serif;max-width:78rem;margin:2rem auto;padding:0 1rem;color:#1b1b1b;line-height:1.4}
table{border-collapse:collapse;margin:0.5rem 0 1.5rem;font-size:0.9rem}
th,td{border:1px solid #ccc;padding:0.2rem 0.5rem;text-align:right;vertical-align:top}
th:first-child,td:first-child{text-align:left}
th{background:#f4f4f4}
.note{color:#555}
.ci{color:#666;font-size:0.8rem;white-space:nowrap}
code{background:#f3f3f3;padding:0 0.2rem}
.verdict{padding:0.8rem 1rem;border-radius:6px;margin:1rem 0;font-size:1.3rem;font-weight:600}
.pass{background:#e3f4e1;border:2px solid #2e7d32;color:#1b5e20}
.fail{background:#fde7e7;border:2px solid #c62828;color:#8e0000}
td.pass,td.fail,td.nodata{font-weight:600}
td.nodata{background:#fff6dc}
figure{margin:0.5rem 0 1.5rem}
figure img{max-width:100%;height:auto;border:1px solid #eee}
nav ol{columns:2}
.wide{overflow-x:auto}
table.gates td{text-align:left}
.card h3{margin-top:1.4rem}
.small{color:#8a5a00;font-style:italic}
"""


def _number(value: object) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return "n/a" if value != value else f"{value:.4g}"
    return escape(str(value))


def _with_ci(value: object, ci: object) -> str:
    text = _number(value)
    if isinstance(ci, list) and len(ci) == 2 and ci[0] is not None:
        text += f" <span class='ci'>[{_number(ci[0])}, {_number(ci[1])}]</span>"
    return text


def _small(text: str, small: bool) -> str:
    """`text` marked as resting on a small group, not to be read as exact."""
    return f"<span class='small'>{text} ({SMALL})</span>" if small else text


def _rate(rate: dict | None) -> str:
    if not rate or rate.get("n", 0) == 0:
        return "n/a"
    text = f"{_with_ci(rate['value'], rate['ci'])} <span class='ci'>{rate['k']}/{rate['n']}</span>"
    return _small(text, rate.get("small", False))


def _bias_auc(group: dict, name: str) -> str:
    small = group.get(f"{name}_small", False) and group[name] is not None  # n/a needs no mark
    return _small(_with_ci(group[name], group.get(f"{name}_ci")), small)


def _level(metrics: dict) -> str:
    confidence = metrics.get("evaluation", {}).get("bootstrap", {}).get("confidence")
    return "n/a" if confidence is None else f"{confidence:.0%}"


def _table(header: list[str], rows: list[list[object]], raw: bool = False) -> str:
    """A table; cells are escaped unless `raw` (cells built here from numbers)."""
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{c if raw and isinstance(c, str) else _number(c)}</td>" for c in row) + "</tr>"
        for row in rows
    )
    return f"<div class='wide'><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"


class Figures:
    """The figures of metrics.json, read from the reports folder and inlined."""

    def __init__(self, paths: dict[str, str], reports: Path) -> None:
        self.paths = paths
        self.reports = reports
        self.used: list[str] = []

    def __call__(self, figure_id: str, caption: str) -> str:
        relative = self.paths.get(figure_id)
        if relative is None or not (self.reports / relative).is_file():
            return ""
        data = base64.b64encode((self.reports / relative).read_bytes()).decode("ascii")
        self.used.append(figure_id)
        return (
            f"<figure><img alt='{escape(caption)}' src='data:image/png;base64,{data}'>"
            f"<figcaption class='note'>{escape(caption)}</figcaption></figure>"
        )


def _verdict_section(metrics: dict) -> str:
    gates = metrics.get("gates")
    if not gates:
        return "<div class='verdict fail'>Release verdict: no gates were evaluated</div>"
    verdict = gates["verdict"]
    failed = [name for name, g in gates["gates"].items() if g["status"] != "pass"]
    headline = "PASS: every release gate holds" if verdict == "pass" else f"FAIL: {', '.join(failed)}"
    body = ""
    for name, gate in gates["gates"].items():
        status_class = {"pass": "pass", "fail": "fail"}.get(gate["status"], "nodata")
        body += (
            f"<tr><td>{escape(name)}</td><td>{escape(gate['description'])}</td>"
            f"<td class='{status_class}'>{escape(gate['status'])}</td><td>{_number(gate['value'])}</td>"
            f"<td>{escape(gate['comparison'])} {_number(gate['limit'])}</td><td>{escape(gate['detail'])}</td></tr>"
        )
    registry = metrics.get("registry", {})
    if registry.get("version"):
        moved = "moved to this version" if verdict == "pass" else "not moved by this evaluation"
        registry_text = (
            f"Registered as <code>{escape(str(registry['name']))}</code> version {escape(str(registry['version']))} "
            f"(alias <code>candidate</code>); alias <code>champion</code> {moved} "
            f"(now: version {escape(str(registry.get('champion_version') or 'none'))})."
        )
    else:
        registry_text = f"Not registered: {escape(str(registry.get('note', 'no registry information')))}."
    return (
        f"<div class='verdict {'pass' if verdict == 'pass' else 'fail'}'>Release verdict: {escape(headline)}</div>"
        f"<p class='note'><b>What these figures rest on.</b> {escape(DATA_BASIS)}</p>"
        "<table class='gates'><thead><tr><th>gate</th><th>figure</th><th>status</th><th>value</th><th>limit</th>"
        f"<th>decided by</th></tr></thead><tbody>{body}</tbody></table>"
        f"<p class='note'>Rates count a conversation as flagged at band <code>{escape(gates['band'])}</code> or above. "
        f"Fairness gates judge the columns {escape(', '.join(gates['groups']))}, each group with at least "
        f"{gates['min_group_size']} records on the judged side; <em>no data</em> never passes. "
        f"{registry_text}</p>"
    )


def _detection(metrics: dict, figure: Figures) -> str:
    evaluation = metrics["evaluation"]
    boot = evaluation["bootstrap"]
    parts = [
        "<h2 id='detection'>1. Detection</h2>",
        f"<p class='note'>Intervals: {boot['confidence']:.0%} {escape(boot['method'])} bootstrap, "
        f"{boot['resamples']} resamples, seed {boot['seed']}. Precision at recall &ge; "
        f"{evaluation['precision_at_recall_target']}; recall at FPR &le; {evaluation['recall_at_fpr_target']}. "
        "F1, F0.5 (the PAN 2012 measure), precision, recall and FPR are at each model's operating threshold: "
        "the bundle's <code>medium</code> band for the served scores, recall &ge; the target on "
        f"{escape(evaluation['threshold_split'])} for the others. n/a: undefined (one class only).</p>",
    ]
    if evaluation.get("missing_splits"):
        parts.append(
            f"<p class='note'>Listed but not scored (no data): {escape(', '.join(evaluation['missing_splits']))}.</p>"
        )
    for split in evaluation["splits"]:
        models = metrics.get(split, {})
        rows = []
        for name, values in models.items():
            rows.append(
                [escape(name), str(values["n"]), str(values["positives"])]
                + [_with_ci(values[key], values.get(f"{key}_ci")) for key, _ in DETECTION_COLUMNS]
                + [_number(values["threshold"])]
            )
        notes = "".join(f"<li><b>{escape(n)}</b>: {escape(MODEL_NOTES.get(n, 'comparator'))}</li>" for n in models)
        parts.append(f"<h3>{escape(split)}</h3>")
        parts.append(
            _table(["model", "n", "positives", *(label for _, label in DETECTION_COLUMNS), "threshold"], rows, raw=True)
        )
        parts.append(f"<ul class='note'>{notes}</ul>")
        parts.append(figure(f"roc_pr/{split}", f"ROC and precision-recall curves on {split}"))
    return "".join(parts)


def _false_positives(metrics: dict, figure: Figures) -> str:
    section = metrics.get("false_positives", {})
    parts = [
        "<h2 id='false-positives'>3. False positives</h2>",
        "<p class='note'>The served output (each record in its mode, at the bundle's bands) on every split and "
        "suite: the share of benign conversations flagged at each band or above (FPR) and of risky ones (recall), "
        f"with Wilson {_level(metrics)} intervals and counts. <code>external_benign</code> is real chat from the "
        "chatterbot-corpus package, joined into two-party conversations; it has no metadata, so its served score is "
        "the content score fused with the metadata model's answer for unknown values (the <code>transformer</code> "
        "row of its detection table judges the content alone).</p>",
    ]
    rows = []
    for split, values in section.get("splits", {}).items():
        bands = values["bands"]
        rows.append(
            [
                escape(split),
                _rate(bands["high"]["fpr"]),
                _rate(bands["medium"]["fpr"]),
                _rate(bands["high"]["recall"]),
                _rate(bands["medium"]["recall"]),
            ]
        )
    parts.append(_table(["split", "FPR high", "FPR medium+", "recall high", "recall medium+"], rows, raw=True))
    parts.append(figure("served_fpr", "served FPR per split and suite, with Wilson intervals"))
    for split, values in section.get("splits", {}).items():
        for column, groups in values.get("by_group", {}).items():
            if split in metrics["evaluation"]["splits"] and len(groups) > 1:
                group_rows = [[escape(g), _rate(r["high"]), _rate(r["medium"])] for g, r in groups.items()]
                parts.append(f"<h3>{escape(split)}: FPR by {escape(column)}</h3>")
                parts.append(_table([column, "FPR high", "FPR medium+"], group_rows, raw=True))
                parts.append(figure(f"fpr_by_group/{split}/{column}", f"FPR by {column} on {split}"))
    top = section.get("top", [])
    parts.append(
        f"<h3>Highest-scoring false positives</h3><p class='note'>{section.get('flagged_negatives', 0)} benign "
        "conversations flagged at <code>medium</code> or above outside the threshold split; the highest "
        f"{len(top)} by served score, by id with their signal scores (no text).</p>"
    )
    fp_rows = [
        [
            escape(r["split"]),
            escape(r["conversation_id"]),
            _number(r["risk_score"]),
            escape(r["risk_band"]),
            escape(r["mode"]),
            escape(str(r["relationship"])),
        ]
        + [_number(r["signals"].get(s)) for s in SIGNALS]
        for r in top
    ]
    parts.append(
        _table(["split", "conversation", "risk", "band", "mode", "relationship / topic", *SIGNALS], fp_rows, raw=True)
        if fp_rows
        else "<p>None.</p>"
    )
    return "".join(parts)


_BAND_LABELS = {"high": "high", "medium": "medium+"}  # a band's rate counts it and every band above


def _group_tables(section: dict, order: list[str], judged: list[str], figure: Figures | None) -> list[str]:
    """Per `groups` column: its equalized-odds difference and a row per group with FPR and FNR at
    each band the section holds, and the three bias AUCs."""
    parts = []
    for column in order:
        table = section["columns"][column]
        bands = [b for b in ("high", "medium") if b in table["equalized_odds_difference"]]
        eod = ", ".join(f"{band}: {_number(v)}" for band, v in table["equalized_odds_difference"].items())
        rows = [
            [escape(value), str(g["negatives"])]
            + [_rate(g["fpr"].get(b)) for b in bands]
            + [str(g["positives"])]
            + [_rate(g["fnr"].get(b)) for b in bands]
            + [_bias_auc(g, name) for name, _ in BIAS_AUCS]
            for value, g in table["groups"].items()
        ]
        judged_note = " (judged by the release gate)" if column in judged else ""
        parts.append(
            f"<h3>{escape(column)}{judged_note}</h3><p class='note'>equalized-odds difference: {escape(eod)}</p>"
        )
        parts.append(
            _table(
                [column, "negatives", *(f"FPR {_BAND_LABELS[b]}" for b in bands), "positives"]
                + [f"FNR {_BAND_LABELS[b]}" for b in bands]
                + [label for _, label in BIAS_AUCS],
                rows,
                raw=True,
            )
        )
        if figure is not None:
            parts.append(figure(f"fairness_fpr/{column}", f"FPR by {column} with Wilson intervals"))
    return parts


def _fairness(metrics: dict, figure: Figures) -> str:
    fairness = metrics.get("fairness")
    if not fairness:
        return "<h2 id='fairness'>4. Fairness</h2><p>No fairness split was scored.</p>"
    parts = [
        "<h2 id='fairness'>4. Fairness</h2>",
        f"<p class='note'>Served scores on {escape(fairness['split'])} ({fairness['n']} conversations), every "
        "<code>groups</code> column. FPR and FNR per group at each band with Wilson "
        f"{_level(metrics)} intervals (fairlearn "
        "MetricFrame); subgroup, BPSN and BNSP AUC after Borkan et al. (2019): BPSN low means the group's benign "
        "conversations outscore other groups' risky ones (false alarms), BNSP low means its risky ones are "
        f"outscored (missed); each with its {_level(metrics)} bootstrap interval, resampled within the AUC's records "
        "and stratified by label. Equalized-odds difference (fairlearn) over groups holding both classes. "
        f"<span class='small'>{SMALL}</span>: the figure rests on fewer than "
        f"{_number(metrics.get('gates', {}).get('min_group_size'))} records on a side (FPR: the group's benign "
        "conversations; FNR: its risky ones; an AUC: either class of its records); read its interval, the "
        "release gate does not judge it.</p>",
    ]
    judged = [c for c in metrics.get("gates", {}).get("groups", []) if c in fairness["columns"]]
    order = judged + [c for c in fairness["columns"] if c not in judged]
    return "".join(parts + _group_tables(fairness, order, judged, figure))


def _modes(metrics: dict) -> str:
    modes = metrics.get("modes", {})
    parts = [
        "<h2 id='modes'>2. Content, metadata and fused</h2>",
        "<p class='note'>Under end-to-end encryption only metadata is seen; when a user opts in and reports, content "
        "joins it. Each split's records with consent to read content, scored by the three paths: "
        "<b>metadata</b> (the metadata model, what serves a record without consent), <b>transformer</b> "
        "(content alone, calibrated) and <b>fused</b> (the served score). The gains are paired: both scores judged "
        f"on the same {_level(metrics)} bootstrap resamples; an interval that excludes 0 is a gain the data "
        "supports.</p>",
    ]
    if not modes:
        return "".join(parts) + "<p>No split holds both classes.</p>"
    rows = [
        [escape(split), str(entry["n"]), str(entry["positives"]), str(entry["metadata_only_records"])]
        + [
            _with_ci(entry[model][metric], entry[model][f"{metric}_ci"])
            for metric in ("roc_auc", "pr_auc")
            for model in MODES
        ]
        + [
            _with_ci(entry[gain_key(*gain)]["roc_auc"]["value"], entry[gain_key(*gain)]["roc_auc"]["ci"])
            for gain in GAINS
        ]
        for split, entry in modes.items()
    ]
    header = ["split", "n", "positives", "metadata-only (left out)"]
    header += [f"{metric} {model}" for metric in ("ROC-AUC", "PR-AUC") for model in MODES]
    header += [f"ROC-AUC gain {better} vs {base}" for better, base in GAINS]
    parts.append(_table(header, rows, raw=True))
    fairness = metrics.get("fairness_metadata")
    if fairness:
        parts.append(
            f"<h3>Fairness of the metadata model</h3><p class='note'>Metadata scores of every record of "
            f"{escape(fairness['split'])} ({fairness['n']} conversations), flagged at the metadata path's alert "
            "threshold (<code>medium</code>); the same measures as section 4.</p>"
        )
        order = sorted(fairness["columns"], key=lambda c: (c != "reporter_age_band", c))
        parts.extend(_group_tables(fairness, order, [], None))
    return "".join(parts)


def _early_block(metrics: dict, early: dict) -> str:
    """One split's early-warning measures and latencies."""
    measures = [key for key in early if key.startswith("erde_") and not key.endswith("_ci")]
    measures += ["f_latency", "f1", "speed"]
    rows = [[escape(m), _with_ci(early[m], early.get(f"{m}_ci"))] for m in measures]
    latency_rows = [
        [
            escape(key),
            str(early[key]["n"]),
            _number(early[key]["median"]),
            _number(early[key]["p25"]),
            _number(early[key]["p75"]),
            _number(early[key]["mean"]),
        ]
        for key in ("messages_to_alert", "messages_after_escalation")
    ]
    return (
        f"<p class='note'>Records with consent on {escape(early['split'])} ({early['n']}, {early['positives']} risky). "
        "The decision is the served alert (<code>alert_message_index</code>, the first message at which the "
        "running score crossed the <code>medium</code> band). ERDE<sub>o</sub> (Losada &amp; Crestani 2016) with "
        f"c<sub>fp</sub> = {_number(early['c_fp'])}; latency-weighted F1 (Sadeque et al. 2018) with "
        f"p = {_number(early['latency_p'])}, so that the penalty at the median length "
        f"({_number(early['median_length'])} messages) is {_number(early.get('penalty_at_median_length'))} "
        "(0.5 in Vogt et al. 2021). Lower ERDE is better.</p>"
        + _table(["measure", f"value [{_level(metrics)} interval]"], rows, raw=True)
        + "<p class='note'>Alert latency of the true positives, in messages:</p>"
        + _table(["latency", "n", "median", "25th pct", "75th pct", "mean"], latency_rows, raw=True)
    )


def _early(metrics: dict, figure: Figures) -> str:
    early = metrics.get("early_detection")
    sources = metrics.get("early_detection_sources", {})
    if not early and not sources:
        return "<h2 id='early'>5. Early warning</h2><p>No early-detection split was scored.</p>"
    parts = ["<h2 id='early'>5. Early warning</h2>"]
    if early:
        parts += [_early_block(metrics, early), figure("alert_latency", "alert latency of true positives")]
    for name, section in sources.items():
        parts += [
            f"<h3>{escape(name)}: a licensed source's official test split</h3>"
            "<p class='note'>Real conversations, labelled by the source; the same measures, with the "
            "protocol of Vogt, Leser &amp; Akbik (2021) for PAN12.</p>",
            _early_block(metrics, section),
        ]
    return "".join(parts)


def _calibration(metrics: dict, figure: Figures) -> str:
    calibration = metrics.get("calibration")
    if not calibration:
        return "<h2 id='calibration'>6. Calibration</h2><p>No calibration split was scored.</p>"
    sections = [calibration, *metrics.get("calibration_also", {}).values()]
    rows = [
        [
            escape(section["split"]),
            escape(m),
            str(section[m]["n"]),
            _with_ci(section[m]["ece"], section[m]["ece_ci"]),
            _with_ci(section[m]["brier"], section[m]["brier_ci"]),
        ]
        for section in sections
        for m in ("fused", "transformer", "metadata")
    ]
    signals = metrics.get("signals", {})
    signal_rows = [
        [escape(name), str(v["n"]), str(v["positives"]), _with_ci(v["roc_auc"], v["roc_auc_ci"])]
        for name, v in signals.get("signals", {}).items()
    ]
    return (
        "<h2 id='calibration'>6. Calibration</h2>"
        f"<p class='note'>ECE over {calibration['bins']} equal-width bins and Brier score, with bootstrap "
        f"intervals; the release gate judges {escape(calibration['split'])}, the other splits are reported.</p>"
        + _table(["split", "score", "n", "ECE", "Brier"], rows, raw=True)
        + figure("reliability", "reliability diagram")
        + f"<h3>Signals</h3><p class='note'>ROC-AUC of each signal head on {escape(signals.get('split', ''))}, "
        "records with consent; a record's label for a signal is whether its record-level <code>signals</code> "
        "list it.</p>" + _table(["signal", "n", "positives", "ROC-AUC"], signal_rows, raw=True)
    )


def _provenance(metrics: dict, manifest: dict) -> str:
    bundle = metrics.get("bundle", {})
    registry = metrics.get("registry", {})
    provenance = [
        ["model version", manifest.get("model_version")],
        ["bundle sha256", bundle.get("bundle_sha256")],
        ["training data sha256", manifest.get("training_data_sha256")],
        ["git commit", manifest.get("git_commit")],
        ["MLflow training run", manifest.get("mlflow_run_id")],
        ["MLflow evaluation run", registry.get("evaluation_run_id")],
        [
            "registered model",
            f"{registry.get('name')} v{registry.get('version')}" if registry.get("version") else "n/a",
        ],
        ["message", json.dumps(manifest.get("message"))],
    ]
    thresholds = [[mode, t["high"], t["medium"]] for mode, t in manifest.get("thresholds", {}).items()]
    export = metrics.get("export", {})
    export_rows = [[k, v] for k, v in export.items() if not isinstance(v, dict)]
    export_rows += [[f"fused nodes: {k}", v] for k, v in export.get("fused_nodes", {}).items()]
    return (
        "<h2 id='provenance'>8. Provenance</h2>"
        + _table(["field", "value"], provenance)
        + "<h3>Risk bands</h3><p class='note'>Lower score bounds, chosen on validation: <code>high</code> for the "
        "false-positive target, <code>medium</code> (the alert threshold) for the recall target.</p>"
        + _table(["mode", "high", "medium"], thresholds)
        + "<h3>Export parity</h3>"
        + _table(["check", "value"], export_rows)
        + "<h3>Data and model card</h3><p>Datasheets: "
        + ", ".join(f"<a href='{DATA_CARDS}/{name}'>data_cards/{name}</a>" for name in DATASHEETS)
        + f". Model card: <a href='{MODEL_CARD_MD}'>{MODEL_CARD_MD}</a>.</p>"
    )


def render_report(metrics: dict, manifest: dict, figure_folder: Path, params: dict | None = None) -> str:
    """The report as one HTML document; `figure_folder` is where metrics.json's figure paths are rooted."""
    figure = Figures(metrics.get("figures", {}), figure_folder)
    sections = [
        f"<h1>grooming-risk: evaluation of {escape(str(manifest.get('model_version')))}</h1>",
        _verdict_section(metrics),
        "<nav><ol><li><a href='#detection'>Detection</a></li><li><a href='#modes'>Content, metadata and fused</a></li>"
        "<li><a href='#false-positives'>False positives</a></li>"
        "<li><a href='#fairness'>Fairness</a></li><li><a href='#early'>Early warning</a></li>"
        "<li><a href='#calibration'>Calibration</a></li><li><a href='#model-card'>Model card</a></li>"
        f"<li><a href='#provenance'>Provenance</a></li><li><a href='{DATA_CARD}'>Data card</a></li>"
        f"<li><a href='{MODEL_CARD_MD}'>Model card (Markdown)</a></li></ol></nav>",
        _detection(metrics, figure),
        _modes(metrics),
        _false_positives(metrics, figure),
        _fairness(metrics, figure),
        _early(metrics, figure),
        _calibration(metrics, figure),
        model_card(metrics, manifest, params or {}),
        _provenance(metrics, manifest),
    ]
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>grooming-risk evaluation {escape(str(manifest.get('model_version')))}</title>"
        f"<style>{STYLE}</style></head><body>{''.join(sections)}</body></html>"
    )


def report_stage(params_path: Path, profile: str | None) -> int:
    params = eval_params(params_path, profile)
    metrics = json.loads((params.paths.reports / METRICS).read_text())
    manifest = json.loads((params.paths.bundle / MANIFEST).read_text())
    raw = load_params(params_path, profile)
    out = params.paths.reports / REPORT
    out.write_text(render_report(metrics, manifest, params.paths.reports, raw), encoding="utf-8")
    results = write_results(metrics, Path(raw["generate"]["card_dir"]), params.evaluate.max_keyword_heldout_roc_auc)
    card = write_model_card(metrics, manifest, raw, params.paths.reports)
    run_id = metrics.get("registry", {}).get("evaluation_run_id")
    if run_id:
        log_report(run_id, [out, results, card], params.paths.reports / DATA_CARDS)
        tracking.log_model_file(run_id, card)
    print(
        f"report: {out} (verdict: {metrics.get('gates', {}).get('verdict', 'n/a')}); model card: {card}; "
        f"data card results: {results}"
    )
    return 0


def log_report(run_id: str, files: list[Path], data_cards: Path) -> None:
    """`files` (the report, the model card, ...) to the run's REPORT_ARTIFACTS folder, and the
    datasheets' folder (`data_cards`, as the report links it) where those links point from there."""
    for path in files:
        tracking.log_file(run_id, path, REPORT_ARTIFACTS)
    if data_cards.is_dir():
        tracking.log_folder(run_id, data_cards, posixpath.normpath(posixpath.join(REPORT_ARTIFACTS, DATA_CARDS)))
