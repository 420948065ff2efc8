"""The systemd units of deploy/systemd: valid, hardened, and the meter keeps its USB access."""

import configparser
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNITS = sorted((Path(__file__).parents[1] / "deploy" / "systemd").glob("*.service"))
INSTALLED = "/opt/gridedge/bin/gridedge"  # where docs/deploy.md installs the command
# systemd-analyze security's exposure, 0-100 (it prints a tenth of it): above 20 is "MEDIUM".
MAX_EXPOSURE = 20
SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
needs_systemd = pytest.mark.skipif(
    SYSTEMD_ANALYZE is None,
    reason="systemd-analyze is not installed (Debian package systemd; .ci/run installs it)",
)


def parse(unit: Path) -> configparser.RawConfigParser:
    """Read a unit file; a directive given twice keeps its last value."""
    parser = configparser.RawConfigParser(strict=False, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(unit.read_text())
    return parser


def with_this_command(unit: Path, directory: Path) -> Path:
    """Copy `unit` into `directory` with the installed command replaced by this environment's.

    systemd-analyze verify checks that ExecStart names an executable; the test machine has the
    command in its virtual environment, not in /opt/gridedge.
    """
    command = Path(sys.executable).parent / "gridedge"
    assert command.exists(), f"{command}: install the package first"
    text = unit.read_text()
    assert text.count(INSTALLED) == 1, f"{unit.name}: ExecStart should run {INSTALLED}"
    copy = directory / unit.name
    copy.write_text(text.replace(INSTALLED, str(command)))
    return copy


def analyze(*args: str) -> subprocess.CompletedProcess[str]:
    assert SYSTEMD_ANALYZE is not None
    return subprocess.run(
        [SYSTEMD_ANALYZE, *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_both_units_are_there() -> None:
    assert [u.name for u in UNITS] == ["gridedge-catalog.service", "gridedge-meter.service"]


@needs_systemd
@pytest.mark.parametrize("unit", UNITS, ids=lambda u: u.name)
def test_systemd_analyze_verify_passes(unit: Path, tmp_path: Path) -> None:
    result = analyze("verify", str(with_this_command(unit, tmp_path)))
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", result.stderr  # warnings too (unknown directives, bad values)


@needs_systemd
@pytest.mark.parametrize("unit", UNITS, ids=lambda u: u.name)
def test_exposure_stays_low(unit: Path, tmp_path: Path) -> None:
    copy = with_this_command(unit, tmp_path)
    result = analyze("security", "--offline=yes", f"--threshold={MAX_EXPOSURE}", str(copy))
    assert result.returncode == 0, result.stdout[-600:]


@pytest.mark.parametrize("unit", UNITS, ids=lambda u: u.name)
def test_runs_unprivileged_and_restarts(unit: Path) -> None:
    service = parse(unit)["Service"]
    assert service["User"] not in ("", "root")
    assert service["Restart"] in ("always", "on-failure")
    assert service["NoNewPrivileges"] == "yes"
    assert service["CapabilityBoundingSet"] == ""
    assert service["ProtectSystem"] == "strict"


def test_meter_can_reach_the_usb_daq() -> None:
    service = parse(next(u for u in UNITS if u.name == "gridedge-meter.service"))["Service"]
    assert service.get("PrivateDevices", "no") == "no"  # would hide /dev/bus/usb
    assert service.get("PrivateUsers", "no") == "no"  # would unmap the plugdev group
    assert service["DevicePolicy"] == "closed"
    assert service["DeviceAllow"].split() == ["char-usb_device", "rw"]
    assert "plugdev" in service["SupplementaryGroups"].split()
    assert "AF_NETLINK" in service["RestrictAddressFamilies"].split()  # udev hot-plug events
    assert service["ExecStart"].split()[1:] == [
        "meter",
        "--provisioning",
        "/etc/gridedge/meter.toml",
    ]
