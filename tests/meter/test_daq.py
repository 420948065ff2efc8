"""The uldaq backend against a simulated USB-200 board through the real uldaq package:
discovery, a continuous scan through the phasor estimator, overruns of the board and of the
host buffer, a board that disappears or hangs, settings, and the error where libuldaq is
missing."""

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from gridedge import cli, config
from gridedge.errors import AcquisitionError, ConfigurationError
from gridedge.meter.daq import DaqSettings, DeviceDescription, discover
from gridedge.meter.phasor import Frames, PhasorEstimator
from gridedge.meter.ring import create_ring
from gridedge.meter.sampling import AcquisitionPump, PumpState

SERIAL = "01D4A2B1"
LSB = {"BIP10VOLTS": 20 / 4096, "UNI10VOLTS": 10 / 4096}
LOW = {"BIP10VOLTS": -10.0, "UNI10VOLTS": 0.0}
SHIFT = np.array([0.0, -2 * np.pi / 3, 2 * np.pi / 3])
PHASES = np.concatenate([SHIFT, SHIFT - np.pi / 6])
PEAKS = np.array([7.0] * 3 + [5.0] * 3)
# Primary units per input volt: 7 V peak is 230 V RMS, 5 V peak is 100 A RMS.
GAIN = tuple(np.array([230.0] * 3 + [100.0] * 3) * np.sqrt(2) / PEAKS)


def inputs(index: np.ndarray, fs: float, offset: float = 0.0) -> np.ndarray:
    """The simulated inputs 0-5, volts, at sample indices of a scan that started at 0."""
    return offset + PEAKS * np.cos(2 * np.pi * 50 * index[:, None] / fs + PHASES)


def read_for(source, seconds: float, block: int = 64) -> list[tuple[int, np.ndarray]]:
    reads = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        reads.append(source.read(block))
    return reads


def gaps_of(reads: list[tuple[int, np.ndarray]]) -> list[int]:
    """Sizes of the jumps in the indices of successive reads, starting from index 0."""
    ends = [0] + [first + len(rows) for first, rows in reads]
    return [first - end for (first, _), end in zip(reads, ends, strict=False) if first != end]


def test_discovery_and_selection(boards, open_daq) -> None:
    with pytest.raises(AcquisitionError, match="no MCC DAQ device on USB; found: none"):
        open_daq()
    boards.plug(SERIAL)
    boards.plug("01D4A2C7", product="USB-204", product_id=0x114)
    assert discover() == [
        DeviceDescription("USB-201", 0x113, SERIAL),
        DeviceDescription("USB-204", 0x114, "01D4A2C7"),
    ]
    with pytest.raises(ConfigurationError, match=r"daq\.unique_id: 2 MCC DAQ devices match"):
        open_daq()
    assert open_daq(unique_id=SERIAL).device.unique_id == SERIAL
    source = open_daq(product="usb-204")
    assert source.device.product_name == "USB-204"
    source.close()  # a board is scanned by one source at a time
    assert open_daq(product="0x114").device.unique_id == "01D4A2C7"
    with pytest.raises(
        AcquisitionError,
        match=re.escape("no MCC DAQ device with unique_id 'nope' on USB; found: USB-201 (unique"),
    ):
        open_daq(unique_id="nope")


@pytest.mark.parametrize(("input_range", "zero"), [("BIP10VOLTS", 0.0), ("UNI10VOLTS", 5.0)])
def test_continuous_scan_through_the_phasor_estimator(boards, open_daq, input_range, zero):
    boards.signal(50.0, PEAKS * (4 / 7 if zero else 1), PHASES, [zero] * 6)
    peaks = PEAKS * (4 / 7 if zero else 1)
    gain = np.array(GAIN) * PEAKS / peaks
    boards.plug(SERIAL)
    # A 0.2 s buffer wraps three times in the 0.6 s read.
    source = open_daq(
        fs=3200.0, input_range=input_range, gain=tuple(gain), zero=(zero,) * 6, buffer_seconds=0.2
    )
    assert source.resolution == 12
    estimator = PhasorEstimator(source.fs, scaling=source.scaling, start_time=source.start_time)
    frames = []
    reads = read_for(source, 0.6)
    for first, rows in reads:
        # 12-bit codes of the range, within half a code of the simulated inputs.
        codes = (rows - LOW[input_range]) / LSB[input_range]
        np.testing.assert_allclose(codes, np.round(codes), atol=1e-9)
        index = np.arange(first, first + len(rows))
        truth = zero + peaks * np.cos(2 * np.pi * 50 * index[:, None] / 3200.0 + PHASES)
        assert np.abs(rows - truth).max() <= LSB[input_range] / 2 + 1e-12
        frames.append(estimator.push(rows, first_index=first))
    assert reads[-1][0] + len(reads[-1][1]) > 1500
    # A loaded machine may pause this reader for longer than the buffer: then the loss is a
    # counted gap, and the rows after it are still the inputs at their indices (checked above).
    assert sum(gaps_of(reads)) == source.lost_samples
    assert source.device_overruns == 0
    result = Frames.concatenate(frames)
    assert len(result) >= 20
    # The window's gain is sqrt(2) / sum(w) per sample: a phasor is off by at most half a
    # code times sqrt(2), in input volts.
    bound = np.sqrt(2) * LSB[input_range] / 2 / (peaks / np.sqrt(2))
    magnitude = np.abs(result.phasor)
    rms = np.array([230.0] * 3 + [100.0] * 3)
    assert np.all(np.abs(magnitude - rms) / rms <= bound)
    # Phases against Va: the scan's start is not on the absolute time grid.
    relative = np.angle(result.phasor / result.phasor[:, :1])
    assert np.abs(np.angle(np.exp(1j * (relative - (PHASES - PHASES[0]))))).max() <= 2 * bound.max()
    np.testing.assert_allclose(result.frequency, 50.0, atol=2e-3)


def test_an_overrun_of_the_board_restarts_the_scan_after_a_gap(boards, open_daq) -> None:
    boards.plug(SERIAL)
    source = open_daq(fs=3200.0, gain=GAIN)
    estimator = PhasorEstimator(source.fs, scaling=source.scaling, start_time=source.start_time)
    before = read_for(source, 0.15)
    boards.overrun(SERIAL)
    time.sleep(0.02)
    after = read_for(source, 0.3)
    assert source.device_overruns == 1
    assert source.buffer_overruns == 0
    reads = before + after
    assert gaps_of(reads) == [source.lost_samples]
    assert source.lost_samples > 0
    assert source.lost_samples < 0.5 * 3200  # the time lost, not the whole run
    frames = Frames.concatenate([estimator.push(rows, first_index=first) for first, rows in reads])
    assert len(frames) > 10
    np.testing.assert_allclose(np.abs(frames.voltage), 230.0, rtol=2e-3)


def test_a_host_buffer_overrun_is_a_counted_gap(boards, open_daq) -> None:
    boards.plug(SERIAL)
    source = open_daq(fs=3200.0, buffer_seconds=0.1)
    first, rows = source.read(64)
    time.sleep(0.3)  # three buffers' worth: the board has come round several times
    reads = [(first, rows), *read_for(source, 0.1)]
    assert source.buffer_overruns >= 1  # more if this machine also paused the reader
    assert source.device_overruns == 0
    gaps = gaps_of(reads)
    assert sum(gaps) == source.lost_samples
    assert gaps[0] > 0.15 * 3200
    for start, block in reads:
        # The index after the gap is still the right one: the rows are the inputs at it.
        index = np.arange(start, start + len(block))
        assert np.abs(block - inputs(index, 3200.0)).max() <= LSB["BIP10VOLTS"] / 2 + 1e-12


def test_a_tiny_buffer_never_returns_an_overwritten_row(boards, open_daq) -> None:
    boards.plug(SERIAL)
    # Four rows: the board comes round every 1.25 ms, often while rows are being copied.
    source = open_daq(fs=3200.0, buffer_seconds=4 / 3200)
    reads = read_for(source, 0.2, block=3)
    assert source.buffer_overruns > 0
    assert sum(gaps_of(reads)) == source.lost_samples
    for start, block in reads:
        index = np.arange(start, start + len(block))
        assert np.abs(block - inputs(index, 3200.0)).max() <= LSB["BIP10VOLTS"] / 2 + 1e-12


def test_a_board_overrun_reaches_the_ring_as_a_gap(boards, open_daq, wait_until) -> None:
    boards.plug(SERIAL)
    source = open_daq(fs=3200.0)
    ring = create_ring(6400)
    with AcquisitionPump(source, ring) as pump:
        wait_until(lambda: pump.status().samples_read > 0)
        boards.overrun(SERIAL)
        wait_until(lambda: pump.status().samples_lost > 0)
        reached = pump.status().samples_read
        wait_until(lambda: pump.status().samples_read > reached)
    status = pump.status()
    assert status.state is PumpState.STOPPED
    assert (status.source_gaps, status.samples_lost) == (1, source.lost_samples)
    runs = []
    while ring.available:
        first, rows = ring.read()
        runs.append((first, rows))
    assert gaps_of(runs) == [source.lost_samples]


def test_a_board_that_disappears_fails_the_pump(boards, open_daq, wait_until) -> None:
    boards.plug(SERIAL)
    source = open_daq(fs=3200.0)
    ring = create_ring(6400)
    with AcquisitionPump(source, ring) as pump:
        wait_until(lambda: pump.status().samples_read > 0)
        boards.unplug(SERIAL)
        assert pump.join(timeout=5)
    status = pump.status()
    assert status.state is PumpState.FAILED
    assert status.error.startswith(
        f"AcquisitionError: USB-201 (unique id {SERIAL}): the scan failed: "
    )
    assert "Device no longer responding" in status.error
    assert status.samples_read > 0
    assert ring.available == status.samples_read
    source.close()  # quietly, although the board is gone
    assert source.read(10)[1].shape == (0, 6)


def test_a_board_that_stops_delivering_is_reported(boards, open_daq) -> None:
    boards.plug(SERIAL)
    source = open_daq(fs=3200.0, stall_timeout=0.2)
    source.read(32)
    boards.pause(SERIAL)
    begin = time.monotonic()
    with pytest.raises(
        AcquisitionError, match=r"USB-201 \(unique id 01D4A2B1\): no samples for 0\.2 s"
    ):
        drain(source)
    assert time.monotonic() - begin < 2.0


def drain(source) -> None:
    """Read until the source fails."""
    while True:
        source.read(10_000)


def test_settings_the_board_cannot_meet(boards, open_daq) -> None:
    boards.plug(SERIAL)
    with pytest.raises(
        ConfigurationError,
        match=r"daq\.input_range 'BIP5VOLTS' is not a single-ended range of USB-201 .*"
        r"BIP10VOLTS, UNI10VOLTS",
    ):
        open_daq(input_range="BIP5VOLTS")
    with pytest.raises(
        ConfigurationError, match=r"daq\.fs 10000 Hz on 6 channels is 60000 samples/s"
    ):
        open_daq(fs=10000.0)
    # A board refused is released: it can be opened again.
    assert open_daq().device.unique_id == SERIAL


def test_settings_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "meter.toml"
    path.write_text(
        '[daq]\nunique_id = "01D4A2B1"\nfs = 6400\ninput_range = "UNI10VOLTS"\n'
        "gain = [46.5, 46.5, 46.5, 28.3, 28.3, 28.3]\nzero = [5, 5, 5, 5, 5, 5]\n"
    )
    settings = config.load(DaqSettings, path, section="daq", environ={"GRIDEDGE_DAQ_FS": "3200"})
    assert (settings.unique_id, settings.fs, settings.input_range) == (
        "01D4A2B1",
        3200.0,
        "UNI10VOLTS",
    )
    np.testing.assert_allclose(
        settings.scaling.to_primary([[5.0] * 6, [6.0] * 6])[1], [46.5] * 3 + [28.3] * 3
    )
    with pytest.raises(ConfigurationError, match="one value per channel"):
        DaqSettings(gain=(1.0, 2.0))
    with pytest.raises(ConfigurationError, match="gain must be non-zero"):
        DaqSettings(gain=(0.0,) * 6)
    with pytest.raises(ConfigurationError, match=r"daq\.fs must be a positive number"):
        DaqSettings(fs=0.0)
    with pytest.raises(ConfigurationError, match="fewer than 2 rows"):
        DaqSettings(buffer_seconds=1e-4)


def run_without_libuldaq(code: str) -> subprocess.CompletedProcess[str]:
    """Run `code` in a fresh interpreter where libuldaq.so cannot be loaded."""
    prelude = (
        "import ctypes.util\nctypes.util.find_library = lambda name: '/nonexistent/libuldaq.so'\n"
    )
    environment = {k: v for k, v in os.environ.items() if k != "LD_LIBRARY_PATH"}
    return subprocess.run(
        [sys.executable, "-c", prelude + code],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
        check=False,
    )


def test_a_clear_error_where_libuldaq_is_missing() -> None:
    done = run_without_libuldaq(
        "from gridedge.errors import BackendUnavailableError\n"
        "from gridedge.meter.daq import DaqSettings, DaqSource\n"
        "try:\n"
        "    DaqSource(DaqSettings())\n"
        "except BackendUnavailableError as exc:\n"
        "    assert isinstance(exc, ImportError)\n"
        "    print(exc)\n"
    )
    assert done.returncode == 0, done.stderr
    assert "needs MCC's C library libuldaq.so" in done.stdout
    assert "cannot open shared object file" in done.stdout
    assert "github.com/mccdaq/uldaq" in done.stdout
    assert "make install" in done.stdout


def test_a_clear_error_where_the_uldaq_package_is_missing() -> None:
    done = run_without_libuldaq(
        "import sys\n"
        "sys.modules['uldaq'] = None\n"
        "from gridedge.meter.daq import discover\n"
        "discover()\n"
    )
    assert done.returncode != 0
    assert "BackendUnavailableError" in done.stderr
    assert "pip install 'gridedge[daq]'" in done.stderr


def test_importing_the_backend_does_not_import_uldaq() -> None:
    done = run_without_libuldaq(
        "import sys\nimport gridedge.meter.daq\nassert 'uldaq' not in sys.modules\n"
    )
    assert done.returncode == 0, done.stderr


def test_the_command_lists_the_boards(boards, capsys: pytest.CaptureFixture[str]) -> None:
    # The handler in this process, where the simulated board is (main() would set up logging).
    args = cli.build_parser().parse_args(["daq-devices"])
    assert args.handler(args) == 1
    assert "no MCC DAQ device on USB" in capsys.readouterr().err
    boards.plug(SERIAL)
    assert args.handler(args) == 0
    assert capsys.readouterr().out == f"USB-201\tproduct id 0x113\tunique id {SERIAL}\n"
