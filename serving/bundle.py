"""Load and verify a model bundle: a folder of ONNX files, a tokenizer and `manifest.json`.

A bundle loads only when every file listed in the manifest is present with its recorded
sha256, and the manifest's format version is one this code understands.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from serving.schema import MODE_CONTENT, MODE_METADATA, Limits
from serving.text import MessageParams

# 2: a message encoder and a conversation model replace the window model.
# 3: the conversation model reads messages through their similarity to an exemplar library
#    (carried as exemplars.yaml) and continues from the evidence of earlier segments.
# 4: the metadata model reads each feature with whether it is known (features.with_availability).
FORMAT_VERSION = 4
MANIFEST = "manifest.json"
ENCODER_MODEL = "encoder.onnx"
CONVERSATION_MODEL = "conversation.onnx"
METADATA_MODEL = "metadata_model.onnx"
TOKENIZER = "tokenizer.json"
EXEMPLARS = "exemplars.yaml"
# The thresholds of a consenting record without account metadata: its calibrated content score.
CONTENT_ONLY = "content-only"
REQUIRED_FILES = (ENCODER_MODEL, CONVERSATION_MODEL, METADATA_MODEL, TOKENIZER, EXEMPLARS)


class BundleError(RuntimeError):
    """A bundle that must not be used; the message is one line for the operator."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class Platt:
    """p = sigmoid(slope * x + intercept)."""

    slope: float
    intercept: float


@dataclass(frozen=True)
class Fusion:
    """Content and metadata logits combined into one calibrated probability."""

    content_weight: float
    metadata_weight: float
    intercept: float


@dataclass(frozen=True)
class Bands:
    """Lower score bounds of the `high` and `medium` risk bands; `medium` is the alert threshold."""

    high: float
    medium: float


@dataclass(frozen=True)
class Runtime:
    message_batch_size: int  # messages per encoder batch
    conversation_batch_size: int  # conversations per conversation-model batch
    intra_op_threads: int
    top_messages: int
    explain_messages: int  # messages occluded per conversation on the review page
    chunk_records: int
    segment_messages: int  # messages of one conversation encoded and read per step: bounds memory


@dataclass(frozen=True)
class Bundle:
    """A verified bundle, ready for the scorer."""

    path: Path
    sha256: str
    manifest: dict[str, Any]

    @property
    def model_version(self) -> str:
        return self.manifest["model_version"]

    @property
    def labels(self) -> list[str]:
        return self.manifest["labels"]

    @property
    def message(self) -> MessageParams:
        return MessageParams(**self.manifest["message"])

    @property
    def limits(self) -> Limits:
        return Limits(**self.manifest["limits"])

    @property
    def runtime(self) -> Runtime:
        return Runtime(**self.manifest["runtime"])

    @property
    def content_calibration(self) -> Platt:
        return Platt(**self.manifest["calibration"]["content"])

    @property
    def metadata_calibration(self) -> Platt:
        return Platt(**self.manifest["calibration"]["metadata"])

    @property
    def fusion(self) -> Fusion:
        return Fusion(**self.manifest["fusion"])

    @property
    def metadata_features(self) -> list[str]:
        return self.manifest["metadata_features"]

    def bands(self, mode: str) -> Bands:
        return Bands(**self.manifest["thresholds"][mode])

    def file(self, name: str) -> Path:
        return self.path / name


# The manifest fields the scorer reads, with their JSON types.
MANIFEST_FIELDS: dict[str, type] = {
    "files": dict,
    "model_version": str,
    "labels": list,
    "message": dict,
    "limits": dict,
    "runtime": dict,
    "calibration": dict,
    "fusion": dict,
    "thresholds": dict,
    "metadata_features": list,
    "onnx_io": dict,
}


def _check_manifest_fields(manifest: dict[str, Any]) -> None:
    for name, kind in MANIFEST_FIELDS.items():
        if not isinstance(manifest.get(name), kind):
            raise BundleError(f"bundle manifest field {name!r} is missing or not a JSON {kind.__name__}")
    try:
        bundle = Bundle(Path("."), "", manifest)
        bundle.message, bundle.limits, bundle.runtime, bundle.fusion  # noqa: B018 - each builds and checks a section
        bundle.content_calibration, bundle.metadata_calibration  # noqa: B018
        for mode in (MODE_CONTENT, MODE_METADATA, CONTENT_ONLY):
            bundle.bands(mode)
    except (KeyError, TypeError, ValueError) as error:
        raise BundleError(f"bundle manifest is malformed ({type(error).__name__}: {error})") from None


def load_bundle(path: str | Path) -> Bundle:
    """Read and verify the bundle at `path`; raise BundleError if anything is off."""
    folder = Path(path)
    manifest_path = folder / MANIFEST
    if not folder.is_dir():
        raise BundleError(f"bundle folder not found: {folder}")
    try:
        manifest_bytes = manifest_path.read_bytes()
        manifest = json.loads(manifest_bytes)
    except FileNotFoundError:
        raise BundleError(f"bundle has no {MANIFEST}: {folder}") from None
    except (OSError, ValueError) as error:
        raise BundleError(f"bundle manifest unreadable: {manifest_path} ({type(error).__name__})") from None
    if not isinstance(manifest, dict):
        raise BundleError(f"bundle manifest is not a JSON object: {manifest_path}")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise BundleError(f"bundle format version {version!r} is not supported (this scorer reads {FORMAT_VERSION})")
    _check_manifest_fields(manifest)
    files = manifest["files"]
    for name in REQUIRED_FILES:
        if name not in files:
            raise BundleError(f"bundle manifest does not list {name}")
    for name in sorted(p.name for p in folder.iterdir()):
        if name != MANIFEST and name not in files:
            raise BundleError(f"bundle holds a file its manifest does not list: {name}")
    for name, expected in files.items():
        if Path(name).name != name:
            raise BundleError(f"bundle manifest names a file outside the bundle: {name}")
        file_path = folder / name
        if not file_path.is_file():
            raise BundleError(f"bundle file missing: {name}")
        actual = sha256_file(file_path)
        if actual != expected:
            raise BundleError(f"bundle file {name} has sha256 {actual[:12]}…, manifest says {expected[:12]}…")
    return Bundle(path=folder, sha256=hashlib.sha256(manifest_bytes).hexdigest(), manifest=manifest)


def write_manifest(folder: Path, manifest: dict[str, Any]) -> Path:
    """Write `manifest` with the sha256 of every other file in `folder` under `files`."""
    files = {p.name: sha256_file(p) for p in sorted(folder.iterdir()) if p.is_file() and p.name != MANIFEST}
    path = folder / MANIFEST
    path.write_text(json.dumps({**manifest, "format_version": FORMAT_VERSION, "files": files}, indent=2))
    return path
