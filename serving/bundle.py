"""Load and verify a model bundle: a folder of ONNX files, a tokenizer and `manifest.json`.

A bundle loads only when it holds no symbolic link, every file listed in the manifest is
present with its recorded sha256, the manifest's format version is one this code understands
and every section the scorer reads has the types and ranges of its dataclass. Given a public
key, it also loads only when `model.sig` is that key's OpenSSF model-signing signature of every
other file in the folder.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, get_type_hints

from serving.schema import MODE_CONTENT, MODE_METADATA, Limits
from serving.text import MessageParams

# 2: a message encoder and a conversation model replace the window model.
# 3: the conversation model reads messages through their similarity to an exemplar library
#    (carried as exemplars.yaml) and continues from the evidence of earlier segments.
# 4: the metadata model reads each feature with whether it is known (features.with_availability).
# 5: the message encoder in fp32 too (encoder_fp32.onnx beside the int8 encoder.onnx); the scorer
#    runs one of them, chosen when it loads (serving/scorer.py `choose_encoder`).
# 6: the conversation model compares messages with a bank of real benign chat too, and carries
#    each role's message count in its evidence (serving/scorer.py EVIDENCE_WIDTH).
# 7: runtime.embedding_cache_messages.
FORMAT_VERSION = 7
MANIFEST = "manifest.json"
ENCODER_MODEL = "encoder.onnx"  # int8
ENCODER_FP32_MODEL = "encoder_fp32.onnx"
CONVERSATION_MODEL = "conversation.onnx"
METADATA_MODEL = "metadata_model.onnx"
TOKENIZER = "tokenizer.json"
EXEMPLARS = "exemplars.yaml"
# The thresholds of a consenting record without account metadata: its calibrated content score.
CONTENT_ONLY = "content-only"
# The message encoder's graph at each precision the scorer can run; both are parity-gated at export.
FP32, INT8 = "fp32", "int8"
ENCODER_GRAPHS = {FP32: ENCODER_FP32_MODEL, INT8: ENCODER_MODEL}
REQUIRED_FILES = (ENCODER_MODEL, ENCODER_FP32_MODEL, CONVERSATION_MODEL, METADATA_MODEL, TOKENIZER, EXEMPLARS)
# The ONNX graphs of a bundle, each with its inputs and outputs in the manifest's `onnx_io`.
ONNX_MODELS = (ENCODER_MODEL, ENCODER_FP32_MODEL, CONVERSATION_MODEL, METADATA_MODEL)
# The signature of the manifest and every file beside it; the one file the manifest does not list.
SIGNATURE = "model.sig"


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

    def __post_init__(self) -> None:
        if not 0 <= self.medium <= self.high <= 1:
            raise ValueError("thresholds must hold 0 <= medium <= high <= 1")


@dataclass(frozen=True)
class Runtime:
    message_batch_size: int  # messages per encoder batch
    conversation_batch_size: int  # conversations per conversation-model batch
    intra_op_threads: int
    top_messages: int
    explain_messages: int  # messages occluded per conversation on the review page
    chunk_records: int
    segment_messages: int  # messages of one conversation encoded and read per step: bounds memory
    embedding_cache_messages: int  # distinct messages whose embeddings a scorer keeps between calls


@dataclass(frozen=True)
class Bundle:
    """A verified bundle, ready for the scorer."""

    path: Path
    sha256: str
    manifest: dict[str, Any]
    signature_verified: bool = False  # model.sig checked against a configured public key

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


# The manifest's sections the scorer reads, by dotted path, and the dataclass each becomes.
SECTIONS: dict[str, type] = {
    "message": MessageParams,
    "limits": Limits,
    "runtime": Runtime,
    "calibration.content": Platt,
    "calibration.metadata": Platt,
    "fusion": Fusion,
    **{f"thresholds.{mode}": Bands for mode in (MODE_CONTENT, MODE_METADATA, CONTENT_ONLY)},
}

# What a section field of each annotated type must hold; JSON true and false are not numbers.
FIELD_RULES: dict[type, tuple[str, Callable[[Any], bool]]] = {
    int: ("a positive integer", lambda v: isinstance(v, int) and not isinstance(v, bool) and v > 0),
    float: ("a finite number", lambda v: isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)),
}


def _check_section(where: str, section: Any, kind: type) -> None:
    """Refuse a section that does not hold exactly the fields of dataclass `kind`, each as FIELD_RULES says."""
    if not isinstance(section, dict):
        raise BundleError(f"bundle manifest section {where} is missing or not a JSON object")
    hints = get_type_hints(kind)
    names = [f.name for f in fields(kind)]
    unknown = sorted(set(section) - set(names))
    if unknown:
        raise BundleError(f"bundle manifest section {where} has unknown fields {unknown}")
    for name in names:
        expected, holds = FIELD_RULES[hints[name]]
        if not holds(section.get(name)):
            raise BundleError(f"bundle manifest field {where}.{name} is missing or not {expected}")
    try:
        kind(**section)  # the ranges the dataclass itself checks
    except ValueError as error:
        raise BundleError(f"bundle manifest section {where} is out of range ({error})") from None


def _check_manifest(manifest: dict[str, Any]) -> None:
    """Refuse a manifest that lacks a field the scorer reads or holds a section of the wrong shape."""
    for name, kind in MANIFEST_FIELDS.items():
        if not isinstance(manifest.get(name), kind):
            raise BundleError(f"bundle manifest field {name!r} is missing or not a JSON {kind.__name__}")
    for where, kind in SECTIONS.items():
        section: Any = manifest
        for key in where.split("."):
            section = section.get(key) if isinstance(section, dict) else None
        _check_section(where, section, kind)


def _signature_hashing() -> Any:
    """Files hashed into a signature: all but the signature itself, git files included."""
    from model_signing import hashing  # only when signing or checking a signature

    return hashing.Config().set_ignored_paths(paths=[SIGNATURE], ignore_git_paths=False)


def sign_bundle(folder: Path, private_key: Path) -> Path:
    """Sign every file of `folder` with an elliptic-curve private key (PEM) into `folder/model.sig`."""
    from model_signing import signing

    try:
        config = signing.Config().set_hashing_config(_signature_hashing())
        config.use_elliptic_key_signer(private_key=private_key).sign(folder, folder / SIGNATURE)
    except Exception as error:  # a missing, encrypted, non-EC or malformed key alike
        raise BundleError(f"cannot sign the bundle with {private_key} ({type(error).__name__})") from None
    return folder / SIGNATURE


def _check_signature(folder: Path, public_key: Path) -> None:
    """Refuse a bundle whose model.sig is missing or is not `public_key`'s signature of its files."""
    from model_signing import verifying

    if not (folder / SIGNATURE).is_file():
        raise BundleError(f"bundle has no {SIGNATURE}, and a public key is configured: {folder}")
    try:
        verifier = verifying.Config().set_hashing_config(_signature_hashing())
        verifier = verifier.use_elliptic_key_verifier(public_key=public_key)
    except Exception as error:  # a missing, non-EC or malformed key alike
        raise BundleError(f"bundle public key unreadable or not EC: {public_key} ({type(error).__name__})") from None
    try:
        verifier.verify(folder, folder / SIGNATURE)
    except Exception as error:  # any failure of a malformed or forged signature is a refusal
        raise BundleError(f"bundle {SIGNATURE} does not verify with {public_key} ({type(error).__name__})") from None


def load_bundle(path: str | Path, sha256: str | None = None, public_key: Path | None = None) -> Bundle:
    """Read and verify the bundle at `path`, pinned to a manifest `sha256` and checked against
    the signature of `public_key` if given; raise BundleError if anything is off."""
    folder = Path(path)
    manifest_path = folder / MANIFEST
    if not folder.is_dir():
        raise BundleError(f"bundle folder not found: {folder}")
    entries = sorted(folder.iterdir())
    # A link would let a verified bundle read a file that its folder does not hold.
    for entry in entries:
        if entry.is_symlink():
            raise BundleError(f"bundle holds a symbolic link: {entry.name}")
    try:
        manifest_bytes = manifest_path.read_bytes()
        manifest = json.loads(manifest_bytes)
    except FileNotFoundError:
        raise BundleError(f"bundle has no {MANIFEST}: {folder}") from None
    except (OSError, ValueError, RecursionError) as error:  # RecursionError: nested too deeply
        raise BundleError(f"bundle manifest unreadable: {manifest_path} ({type(error).__name__})") from None
    digest = hashlib.sha256(manifest_bytes).hexdigest()
    if sha256 is not None and digest != sha256.lower():
        raise BundleError(f"bundle manifest sha256 is {digest}, not the pinned sha256")
    if not isinstance(manifest, dict):
        raise BundleError(f"bundle manifest is not a JSON object: {manifest_path}")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise BundleError(f"bundle format version {version!r} is not supported (this scorer reads {FORMAT_VERSION})")
    _check_manifest(manifest)
    files = manifest["files"]
    for name in REQUIRED_FILES:
        if name not in files:
            raise BundleError(f"bundle manifest does not list {name}")
    for entry in entries:
        if entry.name != MANIFEST and entry.name not in files and not (entry.name == SIGNATURE and entry.is_file()):
            raise BundleError(f"bundle holds a file its manifest does not list: {entry.name}")
    for name, expected in files.items():
        if Path(name).name != name or not name.isprintable():  # a path, or a name that breaks the line
            raise BundleError(f"bundle manifest names a file outside the bundle: {name!r}")
        file_path = folder / name
        if not file_path.is_file():
            raise BundleError(f"bundle file missing: {name}")
        actual = sha256_file(file_path)
        if actual != expected:
            raise BundleError(f"bundle file {name} has sha256 {actual[:12]}…, manifest says {str(expected)[:12]!r}…")
    if public_key is not None:
        _check_signature(folder, public_key)
    return Bundle(path=folder, sha256=digest, manifest=manifest, signature_verified=public_key is not None)


def write_manifest(folder: Path, manifest: dict[str, Any]) -> Path:
    """Write `manifest` with the sha256 of every other file in `folder` (not the signature) under `files`."""
    files = {
        p.name: sha256_file(p) for p in sorted(folder.iterdir()) if p.is_file() and p.name not in (MANIFEST, SIGNATURE)
    }
    path = folder / MANIFEST
    path.write_text(json.dumps({**manifest, "format_version": FORMAT_VERSION, "files": files}, indent=2))
    return path
