"""A bundle signed at export (OpenSSF model-signing, an elliptic-curve key) loads with a configured
public key only when `model.sig` is that key's signature of every file; without a key it loads as before."""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from serving.bundle import MANIFEST, SIGNATURE, BundleError, load_bundle, sign_bundle, write_manifest
from tests.conftest import flip_byte, run_cli


def _key_pair(folder: Path, name: str) -> tuple[Path, Path]:
    """A throwaway P-256 key pair as PEM files: (private, public)."""
    key = ec.generate_private_key(ec.SECP256R1())
    private, public = folder / f"{name}.pem", folder / f"{name}.pub.pem"
    private.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    public.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return private, public


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    folder = tmp_path_factory.mktemp("keys")
    return {name: _key_pair(folder, name) for name in ("ours", "other")}


@pytest.fixture
def unsigned(quick_run, tmp_path) -> Path:
    """A copy of the quick bundle without a signature."""
    bundle = shutil.copytree(quick_run.bundle, tmp_path / "bundle")
    (bundle / SIGNATURE).unlink(missing_ok=True)
    return bundle


@pytest.fixture
def signed(unsigned, keys) -> Path:
    """The copy, signed with our private key."""
    sign_bundle(unsigned, keys["ours"][0])
    return unsigned


def _refused_in_one_line(bundle: Path, public_key: Path, capsys) -> str:
    """`verify` with the key fails with exit 2 and one line on stderr; that line."""
    capsys.readouterr()
    assert run_cli("verify", "--bundle", bundle, "--bundle-public-key", public_key) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    return err


def test_signed_bundle_verifies_and_keeps_its_manifest_pin(signed, quick_run, keys, capsys):
    bundle = load_bundle(signed, public_key=keys["ours"][1])
    assert bundle.signature_verified
    assert sorted(p.name for p in signed.iterdir() if p.name not in bundle.manifest["files"]) == [MANIFEST, SIGNATURE]
    # Signing adds a file beside the manifest, not to it: the manifest's sha256 pin is unchanged.
    pin = load_bundle(quick_run.bundle).sha256
    assert bundle.sha256 == pin
    assert run_cli("verify", "--bundle", signed, "--bundle-sha256", pin, "--bundle-public-key", keys["ours"][1]) == 0
    assert f"signature: verified ({SIGNATURE})" in capsys.readouterr().out


def test_no_key_configured_loads_as_before(signed, capsys):
    assert not load_bundle(signed).signature_verified
    assert run_cli("verify", "--bundle", signed) == 0
    assert "signature: not checked" in capsys.readouterr().out
    (signed / SIGNATURE).unlink()
    assert run_cli("verify", "--bundle", signed) == 0
    assert "signature: none (unsigned bundle)" in capsys.readouterr().out


def test_unsigned_bundle_with_a_key_is_refused(unsigned, keys, capsys):
    with pytest.raises(BundleError, match=f"bundle has no {SIGNATURE}"):
        load_bundle(unsigned, public_key=keys["ours"][1])
    assert SIGNATURE in _refused_in_one_line(unsigned, keys["ours"][1], capsys)


def test_bundle_signed_by_another_key_is_refused(unsigned, keys, capsys):
    sign_bundle(unsigned, keys["other"][0])
    assert load_bundle(unsigned, public_key=keys["other"][1]).signature_verified
    with pytest.raises(BundleError, match="does not verify"):
        load_bundle(unsigned, public_key=keys["ours"][1])
    assert "does not verify" in _refused_in_one_line(unsigned, keys["ours"][1], capsys)


def test_flipped_byte_in_a_bundle_file_is_refused(signed, keys):
    flip_byte(signed / "exemplars.yaml")
    with pytest.raises(BundleError, match=r"exemplars\.yaml has sha256"):
        load_bundle(signed, public_key=keys["ours"][1])
    # Rehashed into the manifest, the change passes the manifest but not the signature.
    write_manifest(signed, {k: v for k, v in json.loads((signed / MANIFEST).read_text()).items() if k != "files"})
    assert not load_bundle(signed).signature_verified
    with pytest.raises(BundleError, match="does not verify"):
        load_bundle(signed, public_key=keys["ours"][1])


def test_flipped_byte_in_the_signature_is_refused(signed, keys):
    path = signed / SIGNATURE
    signature = json.loads(path.read_text())
    envelope = signature["dsseEnvelope"]["signatures"][0]
    raw = bytearray(base64.b64decode(envelope["sig"]))
    raw[len(raw) // 2] ^= 0x01
    envelope["sig"] = base64.b64encode(bytes(raw)).decode()
    path.write_text(json.dumps(signature))
    with pytest.raises(BundleError, match="does not verify"):
        load_bundle(signed, public_key=keys["ours"][1])
    flip_byte(path, fraction=1 / 3, mask=0x20)  # a byte of the file itself, wherever it falls
    with pytest.raises(BundleError, match="does not verify"):
        load_bundle(signed, public_key=keys["ours"][1])


def test_bad_public_key_is_refused_in_one_line(signed, tmp_path, capsys):
    not_a_key = tmp_path / "not-a-key.pem"
    not_a_key.write_text("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
    assert "public key unreadable" in _refused_in_one_line(signed, not_a_key, capsys)
    assert "public key unreadable" in _refused_in_one_line(signed, tmp_path / "missing.pem", capsys)


def test_only_the_signature_file_may_go_unlisted(signed):
    (signed / f"{SIGNATURE}.bak").write_bytes((signed / SIGNATURE).read_bytes())
    with pytest.raises(BundleError, match=rf"does not list: {SIGNATURE}\.bak"):
        load_bundle(signed)
    (signed / f"{SIGNATURE}.bak").unlink()
    (signed / SIGNATURE).unlink()
    (signed / SIGNATURE).mkdir()
    with pytest.raises(BundleError, match=f"does not list: {SIGNATURE}"):
        load_bundle(signed)


def test_signing_with_an_unreadable_key_fails_in_one_line(unsigned, tmp_path):
    with pytest.raises(BundleError, match="cannot sign the bundle"):
        sign_bundle(unsigned, tmp_path / "missing.pem")
    assert not (unsigned / SIGNATURE).exists()
