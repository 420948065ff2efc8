"""Versions on disk: verification before anything is unpacked, atomic switches, and a power
loss at every step of an activation, a commit and a rollback leaving exactly one complete
version active."""

import contextlib
import datetime
import hashlib
import io
import json
import os
import shutil
import zipfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gridedge import packages
from gridedge.errors import VerificationError
from gridedge.meter import durable
from gridedge.meter.installer import Installed, Installer
from gridedge.meter.unpack import unpack
from tests.catalog.conftest import public_hex
from tests.daemon.algorithms import probe

KEY = Ed25519PrivateKey.generate()


def sha(archive: bytes) -> str:
    return hashlib.sha256(archive).hexdigest()


@pytest.fixture
def installer(tmp_path: Path) -> Installer:
    return Installer(tmp_path / "algorithms", [public_hex(KEY)], 1024 * 1024)


def install(installer: Installer, version: str) -> None:
    archive = probe(KEY, version=version)
    installer.activate(installer.stage("probe", sha(archive), archive))


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Versions 1.0.0 (active) and 2.0.0 (staged), verified once for all the crash tests."""
    root = tmp_path_factory.mktemp("template") / "algorithms"
    installer = Installer(root, [public_hex(KEY)], 1024 * 1024)
    install(installer, "1.0.0")
    archive = probe(KEY, version="2.0.0")
    installer.stage("probe", sha(archive), archive)
    return root


@pytest.fixture
def staged(template: Path, tmp_path: Path) -> tuple[Installer, Installed]:
    """A copy of the template: an installer with 1.0.0 active and 2.0.0 staged."""
    root = tmp_path / "algorithms"
    shutil.copytree(template, root, symlinks=True)
    installer = Installer(root, [public_hex(KEY)], 1024 * 1024)
    path = root / "probe" / "versions" / "2.0.0"
    manifest = json.loads((path / "manifest.json").read_text())
    package_sha256 = (path / "package.sha256").read_text()
    return installer, Installed("probe", "2.0.0", path, manifest, package_sha256)


class PowerLossError(Exception):
    """The machine stopped here."""


def crash_at(monkeypatch: pytest.MonkeyPatch, step: int) -> list[int]:
    """Make the `step`-th durable operation (rename, symlink, unlink, rmtree) fail."""
    count = [0]
    for name in ("replace", "symlink", "unlink"):
        original = getattr(os, name)

        def failing(*args, _original=original, **kwargs):
            count[0] += 1
            if count[0] == step:
                raise PowerLossError
            return _original(*args, **kwargs)

        monkeypatch.setattr(os, name, failing)
    return count


def active(installer: Installer) -> str | None:
    current = installer.current("probe")
    if current is None:
        return None
    assert (current.path / "manifest.json").is_file()
    assert (current.payload / "algo.py").is_file()
    return current.version


def leftovers(installer: Installer) -> list[Path]:
    return [p for p in installer.root.rglob("*") if durable.TEMPORARY in p.name]


@pytest.mark.parametrize("step", range(1, 12))
def test_a_power_loss_during_an_activation_leaves_old_or_new(staged, monkeypatch, step):
    installer, new = staged
    count = crash_at(monkeypatch, step)
    try:
        installer.activate(new)
        installer.commit("probe")
    except PowerLossError:
        pass
    monkeypatch.undo()
    installer.recover()
    assert active(installer) in ("1.0.0", "2.0.0")
    assert not leftovers(installer)
    if count[0] < step:  # it finished before the step: the new version, committed
        assert active(installer) == "2.0.0"
        assert installer.previous("probe") is None


@pytest.mark.parametrize("step", range(1, 8))
def test_a_power_loss_during_a_rollback_leaves_old_or_new(staged, monkeypatch, step):
    installer, new = staged
    installer.activate(new)
    crash_at(monkeypatch, step)
    with contextlib.suppress(PowerLossError):
        installer.rollback("probe")
    monkeypatch.undo()
    installer.recover()
    assert active(installer) in ("1.0.0", "2.0.0")
    assert not leftovers(installer)


def test_rollback_restores_the_previous_and_refuses_the_failed(installer):
    install(installer, "1.0.0")
    install(installer, "2.0.0")
    assert installer.previous("probe").version == "1.0.0"
    restored = installer.rollback("probe")
    assert restored.version == "1.0.0"
    assert installer.previous("probe") is None
    failed = probe(KEY, version="2.0.0")
    assert installer.rejected("probe") == {f"2.0.0:{sha(failed)}"}
    # The highest version ever active stays the floor: 2.0.0 cannot come back, 1.5 neither.
    for version in ("2.0.0", "1.5.0"):
        archive = probe(KEY, version=version)
        with pytest.raises(VerificationError, match=r"does not go up from 2\.0\.0"):
            installer.stage("probe", sha(archive), archive)
    assert sorted(p.name for p in (installer.root / "probe" / "versions").iterdir()) == ["1.0.0"]


def test_a_removed_algorithm_keeps_its_floor(installer):
    install(installer, "1.0.0")
    installer.remove("probe")
    assert installer.current("probe") is None
    assert installer.names() == []
    archive = probe(KEY, version="1.0.0")
    with pytest.raises(VerificationError, match="does not go up"):
        installer.stage("probe", sha(archive), archive)


def test_recover_drops_versions_no_symlink_names(installer):
    install(installer, "1.0.0")
    archive = probe(KEY, version="2.0.0")
    installer.stage("probe", sha(archive), archive)  # staged, never activated
    installer.recover()
    assert sorted(p.name for p in (installer.root / "probe" / "versions").iterdir()) == ["1.0.0"]


LATER = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=1)


def payload_package(files: dict[str, bytes]) -> bytes:
    """A signed package whose payload ZIP holds `files` as given (names not checked)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    payload = buffer.getvalue()
    manifest = packages.Manifest(
        name="probe",
        version="1.0.0",
        api_version=packages.API_VERSION,
        entry_point="algo:create",
        payload_sha256=sha(payload),
        expires=LATER.replace(microsecond=0),
        key_id=packages.key_id(KEY.public_key()),
    )
    raw = manifest.to_json()
    return packages.zip_files(
        {packages.MANIFEST: raw, packages.SIGNATURE: KEY.sign(raw), packages.PAYLOAD: payload}
    )


@pytest.mark.parametrize(
    ("files", "reason"),
    [
        ({"../escape.py": b"x"}, "escapes the package"),
        ({"/etc/passwd": b"x"}, "escapes the package"),
        ({"a\\b.py": b"x"}, "escapes the package"),
        ({"big.bin": bytes(2048)}, "unpacks to more than 1024 bytes"),
    ],
)
def test_payloads_that_would_escape_or_explode_are_refused(tmp_path, files, reason):
    archive = payload_package(files)
    with pytest.raises(VerificationError, match=reason):
        unpack(
            archive,
            tmp_path / "into",
            name="probe",
            sha256=sha(archive),
            trusted_keys=[public_hex(KEY)],
            above=[],
            max_bytes=1024,
        )
    assert not (tmp_path / "into").exists()
