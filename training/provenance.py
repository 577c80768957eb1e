"""Where a model came from: git commit, data hash, package versions."""

from __future__ import annotations

import hashlib
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from serving.bundle import sha256_file

PACKAGES = ("grooming-risk", "torch", "transformers", "onnx", "onnxruntime", "tokenizers", "scikit-learn", "skl2onnx")


def git_commit() -> str:
    """The commit of the working tree, marked `-dirty` when it has uncommitted changes."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{commit}-dirty" if dirty else commit


def data_hash(files: list[Path]) -> str:
    """One sha256 over the names and contents of `files`."""
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(f"{path.name}:{sha256_file(path)}\n".encode())
    return digest.hexdigest()


def package_versions() -> dict[str, str]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = "absent"
    return versions
