"""The bundle as an MLflow pyfunc model, so that `mlflow.pyfunc.load_model("models:/grooming-risk@champion")`
and `mlflow models serve` score records the way `grooming-risk score` does.

Input: a pandas DataFrame, one record of the input format (ARCHITECTURE.md) per row. Output: one
row per input row, in order: the output record of `grooming-risk score` with `reason` null, or,
for a record the job would reject, its `conversation_id` (when it has one) and the `reason`, the
other fields null. Line numbers in reasons count rows from 1.

The model is logged as code (this file, which MLflow runs to build the model it loads), with the
bundle folder as its artifact and the `serving` package as its code: it holds no pickle. mlflow is
in the `train` extra; serving's core never imports this module.
"""

from __future__ import annotations

import json
import tomllib
from importlib.metadata import requires
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.data.dataset_source_registry import get_dataset_source_from_json
from mlflow.data.meta_dataset import MetaDataset
from mlflow.models import ModelSignature, set_model
from mlflow.models.model import ModelInfo
from mlflow.types.schema import AnyType, Array, ColSpec, DataType, Object, Property, Schema

from serving.batch import Reject, score_records, validate_records
from serving.bundle import load_bundle
from serving.schema import SIGNALS, Limits, RecordError
from serving.scorer import Scorer
from serving.sources import decode_json_line

BUNDLE = "bundle"  # the logged model's name and its artifact holding the bundle folder
DISTRIBUTION = "grooming-risk"
PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
DATA_DIGEST_CHARS = 8  # of the data sha256, as in the model version; the whole hash is a tag

# Every column optional and of any type: each record reaches the record validator, which rejects
# it with a text-free reason. MLflow's typed enforcement would refuse the whole request instead,
# with an error that quotes the offending value (message text).
INPUT_SCHEMA = Schema(
    [
        ColSpec(AnyType(), name, required=False)
        for name in ("conversation_id", "opt_in", "participants", "messages", "metadata", "label", "signals", "groups")
    ]
)
OUTPUT_SCHEMA = Schema(
    [
        ColSpec(DataType.string, "conversation_id", required=False),
        ColSpec(DataType.double, "risk_score", required=False),
        ColSpec(DataType.string, "risk_band", required=False),
        ColSpec(Object([Property(s, DataType.double, required=False) for s in SIGNALS]), "signals", required=False),
        ColSpec(DataType.long, "alert_message_index", required=False),
        ColSpec(Array(DataType.long), "top_message_indices", required=False),
        ColSpec(DataType.string, "mode", required=False),
        ColSpec(Array(DataType.string), "metadata_used", required=False),
        ColSpec(DataType.string, "model_version", required=False),
        ColSpec(DataType.string, "bundle_sha256", required=False),
        ColSpec(DataType.string, "reason", required=False),
    ]
)
SIGNATURE = ModelSignature(inputs=INPUT_SCHEMA, outputs=OUTPUT_SCHEMA)


def _json_value(value: Any) -> Any:
    """A value JSON cannot hold as it is: numpy arrays and scalars as Python values, else text."""
    return value.tolist() if isinstance(value, np.ndarray | np.generic) else str(value)


def row_records(frame: pd.DataFrame, limits: Limits) -> list[Any]:
    """Each row decoded as the JSONL line it would be in a file (size limit included), or the
    RecordError that rejects it; an empty cell is an absent field."""
    records: list[Any] = []
    for row in frame.to_dict(orient="records"):
        present = {str(k): v for k, v in row.items() if not (pd.api.types.is_scalar(v) and pd.isna(v))}
        line = json.dumps(present, ensure_ascii=False, separators=(",", ":"), default=_json_value)
        try:
            records.append(decode_json_line(line.encode("utf-8", "surrogatepass"), limits))
        except RecordError as error:
            records.append(error)
    return records


def score_rows(scorer: Scorer, records: list[Any]) -> list[dict[str, Any]]:
    """One output row per record, in order, as the batch job scores and rejects them."""
    rows: list[dict[str, Any]] = [dict.fromkeys(OUTPUT_SCHEMA.input_names()) for _ in records]
    slots, conversations = [], []
    for number, item in validate_records(enumerate(records, start=1), scorer.bundle.limits):
        row = rows[number - 1]
        row["conversation_id"] = item.conversation_id
        if isinstance(item, Reject):
            row["reason"] = item.reason
        else:
            slots.append(row)
            conversations.append(item)
    for row, score in zip(slots, score_records(scorer, conversations), strict=True):
        if isinstance(score, RecordError):
            row["reason"] = str(score)
        else:
            row.update(score)
    return rows


class BundleModel(mlflow.pyfunc.PythonModel):
    """The serving scorer over the bundle artifact."""

    def load_context(self, context: mlflow.pyfunc.PythonModelContext) -> None:
        self.scorer = Scorer.from_bundle(load_bundle(Path(context.artifacts[BUNDLE])))

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        """Score a DataFrame of records: one output row per record (see the module's docstring)."""
        rows = score_rows(self.scorer, row_records(model_input, self.scorer.bundle.limits))
        return pd.DataFrame(rows, columns=OUTPUT_SCHEMA.input_names(), dtype=object)


def pip_requirements() -> list[str]:
    """The serving-only install (`dependencies` of pyproject.toml in a checkout, else of the
    installed distribution), and the mlflow and pandas that load a pyfunc model."""
    if PYPROJECT.is_file():
        core = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    else:
        core = [r for r in requires(DISTRIBUTION) or [] if "extra ==" not in r]
    return [*core, f"mlflow=={mlflow.__version__}", f"pandas=={pd.__version__}"]


def log_bundle_model(bundle_dir: Path, data_dir: Path, data_sha256: str) -> ModelInfo:
    """Log the bundle as a pyfunc model named `bundle` in the active run, and the data it was
    trained on as the run's input (its folder and sha256; no records)."""
    info = mlflow.pyfunc.log_model(
        name=BUNDLE,
        python_model=__file__,
        artifacts={BUNDLE: str(bundle_dir)},
        code_paths=[str(Path(__file__).parent)],
        signature=SIGNATURE,
        pip_requirements=pip_requirements(),
    )
    source = get_dataset_source_from_json(json.dumps({"uri": str(data_dir)}), source_type="local")
    dataset = MetaDataset(source, name=data_dir.name, digest=data_sha256[:DATA_DIGEST_CHARS])
    mlflow.log_input(dataset, context="training", tags={"data_sha256": data_sha256})
    return info


# Logged as code: MLflow runs this file and loads the model it sets.
set_model(BundleModel())
