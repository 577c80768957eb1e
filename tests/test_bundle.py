"""A bundle whose files are not exactly what the manifest says refuses to load."""

import json
import shutil

import pytest

from serving.bundle import FORMAT_VERSION, BundleError, load_bundle
from serving.scorer import Scorer
from tests.conftest import run_cli


@pytest.fixture
def bundle_copy(quick_run, tmp_path):
    return shutil.copytree(quick_run.bundle, tmp_path / "bundle")


def test_intact_bundle_verifies(bundle_copy, capsys):
    assert run_cli("verify", "--bundle", bundle_copy) == 0
    assert "bundle ok" in capsys.readouterr().out


def test_flipped_byte_in_model_is_refused(bundle_copy, capsys):
    model = bundle_copy / "encoder.onnx"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model.write_bytes(bytes(data))
    with pytest.raises(BundleError, match=r"encoder\.onnx has sha256"):
        load_bundle(bundle_copy)
    assert run_cli("verify", "--bundle", bundle_copy) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_deleted_tokenizer_is_refused(bundle_copy):
    (bundle_copy / "tokenizer.json").unlink()
    with pytest.raises(BundleError, match=r"bundle file missing: tokenizer\.json"):
        load_bundle(bundle_copy)


def test_future_format_version_is_refused(bundle_copy):
    manifest_path = bundle_copy / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["format_version"] = FORMAT_VERSION + 1
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="format version"):
        load_bundle(bundle_copy)


def test_graph_that_differs_from_the_manifest_is_refused(bundle_copy):
    manifest_path = bundle_copy / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["onnx_io"]["encoder.onnx"]["inputs"] = ["input_ids", "attention_mask", "token_type_ids"]
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="differ from the manifest"):
        Scorer.from_bundle(load_bundle(bundle_copy))


def test_unlisted_file_in_bundle_is_refused(bundle_copy):
    (bundle_copy / "fusion.pkl").write_bytes(b"not allowed")
    with pytest.raises(BundleError, match=r"does not list: fusion\.pkl"):
        load_bundle(bundle_copy)


def test_manifest_without_a_section_is_refused(bundle_copy, capsys):
    manifest_path = bundle_copy / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    del manifest["runtime"]
    manifest_path.write_text(json.dumps(manifest))
    assert run_cli("verify", "--bundle", bundle_copy) == 2
    assert "'runtime' is missing" in capsys.readouterr().err
