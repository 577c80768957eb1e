"""A bundle whose files or manifest are not exactly what the scorer expects refuses to load,
in one line, before any record is read."""

import json
import re
import shutil

import pytest

from serving.bundle import ENCODER_GRAPHS, FORMAT_VERSION, BundleError, load_bundle, sha256_file, write_manifest
from serving.scorer import Scorer, usable_cpus
from tests.conftest import flip_byte, run_cli, valid_record


@pytest.fixture
def bundle_copy(quick_run, tmp_path):
    return shutil.copytree(quick_run.bundle, tmp_path / "bundle")


def test_intact_bundle_verifies(bundle_copy, capsys):
    assert run_cli("verify", "--bundle", bundle_copy) == 0
    assert "bundle ok" in capsys.readouterr().out


@pytest.mark.parametrize("name", ["encoder.onnx", "encoder_fp32.onnx"])
def test_flipped_byte_in_model_is_refused(bundle_copy, capsys, name):
    flip_byte(bundle_copy / name, mask=0xFF)
    with pytest.raises(BundleError, match=rf"{re.escape(name)} has sha256"):
        load_bundle(bundle_copy)
    assert run_cli("verify", "--bundle", bundle_copy) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_manifest_lists_and_hashes_both_encoder_graphs(quick_run):
    bundle = load_bundle(quick_run.bundle)
    io = {"inputs": ["input_ids", "attention_mask"], "outputs": ["embeddings"]}
    for name in ENCODER_GRAPHS.values():
        assert bundle.manifest["files"][name] == sha256_file(bundle.file(name))
        assert bundle.manifest["onnx_io"][name] == io


def test_bundle_without_the_fp32_encoder_is_refused(bundle_copy):
    (bundle_copy / "encoder_fp32.onnx").unlink()
    manifest = json.loads((bundle_copy / "manifest.json").read_text())
    write_manifest(bundle_copy, {k: v for k, v in manifest.items() if k not in ("files", "format_version")})
    with pytest.raises(BundleError, match=r"does not list encoder_fp32\.onnx"):
        load_bundle(bundle_copy)


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


def _set_in_manifest(bundle, dotted: str, value) -> None:
    """Rewrite the manifest with one field changed; `files` stays as it was."""
    manifest_path = bundle / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    *parents, name = dotted.split(".")
    section = manifest
    for key in parents:
        section = section[key]
    section[name] = value
    manifest_path.write_text(json.dumps(manifest))


def _score(bundle, tmp_path, *extra):
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps(valid_record()) + "\n")
    out, rejects = tmp_path / "scores.jsonl", tmp_path / "rejects.jsonl"
    return run_cli("score", "--bundle", bundle, "--input", source, "--output", out, "--rejects", rejects, *extra), out


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("thresholds.content+metadata.medium", "0.9"),
        ("thresholds.metadata-only.high", float("nan")),
        ("thresholds.content-only.high", 1.5),
        ("thresholds.content-only.medium", -0.1),
        ("thresholds.content+metadata.medium", 0.99),  # above high
        ("runtime.chunk_records", "256"),
        ("runtime.message_batch_size", 0),
        ("runtime.segment_messages", True),
        ("runtime.intra_op_threads", 2.5),
        ("limits.max_messages", "2000"),
        ("limits.max_record_bytes", -1),
        ("calibration.content.slope", float("inf")),
        ("fusion.intercept", None),
        ("fusion.metadata_weight", "1"),
    ],
)
def test_manifest_value_of_the_wrong_type_or_range_is_refused(bundle_copy, capsys, field, value):
    _set_in_manifest(bundle_copy, field, value)
    section = field.rsplit(".", 1)[0]
    with pytest.raises(BundleError, match=re.escape(section)):
        load_bundle(bundle_copy)
    assert run_cli("verify", "--bundle", bundle_copy) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_bad_manifest_is_refused_before_any_record_is_read(bundle_copy, tmp_path, capsys):
    _set_in_manifest(bundle_copy, "limits.max_messages", "2000")
    code, out = _score(bundle_copy, tmp_path)
    assert code == 2
    assert not out.exists()
    assert "limits.max_messages" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["manifest.json", "encoder.onnx"])
def test_symbolic_link_in_bundle_is_refused(bundle_copy, tmp_path, capsys, name):
    target = tmp_path / "elsewhere"
    (bundle_copy / name).rename(target)
    (bundle_copy / name).symlink_to(target)
    with pytest.raises(BundleError, match=rf"symbolic link: {name}"):
        load_bundle(bundle_copy)
    assert run_cli("verify", "--bundle", bundle_copy) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_verify_prints_the_sha256_a_bundle_is_pinned_with(bundle_copy, capsys):
    sha256 = load_bundle(bundle_copy).sha256
    assert run_cli("verify", "--bundle", bundle_copy, "--bundle-sha256", sha256.upper()) == 0
    assert f"sha256 {sha256}" in capsys.readouterr().out


def test_bundle_other_than_the_pinned_one_is_refused(bundle_copy, tmp_path, capsys):
    pinned = load_bundle(bundle_copy).sha256
    _set_in_manifest(bundle_copy, "model_version", "another")
    assert run_cli("verify", "--bundle", bundle_copy, "--bundle-sha256", pinned) == 2
    code, out = _score(bundle_copy, tmp_path, "--bundle-sha256", pinned)
    assert code == 2
    assert not out.exists()
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and all("not the pinned sha256" in line for line in err)


def test_more_threads_than_cpus_are_refused(quick_run, tmp_path, capsys):
    cpus = usable_cpus()
    code, out = _score(quick_run.bundle, tmp_path, "--threads", cpus + 1)
    assert code == 2
    assert not out.exists()
    assert capsys.readouterr().err == f"error: --threads {cpus + 1} is more than the CPUs available: at most {cpus}\n"


@pytest.mark.parametrize("name", ["encoder.onnx", "encoder_fp32.onnx", "tokenizer.json"])
def test_a_corrupt_file_with_a_matching_hash_is_refused_in_one_line(bundle_copy, capsys, name):
    """Hashes catch a changed file, not a file that was broken when its hash was written."""
    (bundle_copy / name).write_bytes(b"not a model at all")
    manifest = json.loads((bundle_copy / "manifest.json").read_text())
    write_manifest(bundle_copy, {k: v for k, v in manifest.items() if k not in ("files", "format_version")})
    assert run_cli("verify", "--bundle", bundle_copy) == 2
    err = capsys.readouterr().err
    assert f"bundle file {name} is not a loadable" in err and "Traceback" not in err and len(err.splitlines()) == 1
