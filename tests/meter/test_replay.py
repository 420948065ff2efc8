"""COMTRADE replay as a Source: channel mapping, scaling to primary units, time base, pacing,
and phasors through the estimator."""

import calendar
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from gridedge import config
from gridedge.errors import ConfigurationError, InvalidInputError
from gridedge.meter.acquisition import Source
from gridedge.meter.comtrade import AnalogChannel, Record, read, write
from gridedge.meter.phasor import PhasorEstimator
from gridedge.meter.replay import ComtradeReplay, ReplaySettings, channel_columns

FS = 3200.0
START = datetime(2021, 6, 1, 12, 0, 0, 250000)
VOLTAGE, CURRENT, LAG = 230.0, 100.0, np.pi / 6
SHIFT = np.array([0.0, -2 * np.pi / 3, 2 * np.pi / 3])


def phases(n: int) -> np.ndarray:
    """Va..Vc in V, Ia..Ic in A, peak values, sample 0 at the record's start."""
    t = np.arange(n) / FS
    wave = 2 * np.pi * 50 * t[:, None] + SHIFT
    return np.hstack(
        [VOLTAGE * np.sqrt(2) * np.cos(wave), CURRENT * np.sqrt(2) * np.cos(wave - LAG)]
    )


def recorder_file(tmp_path: Path, n: int = 3200, **options: object) -> Path:
    """A record laid out as a fault recorder might: other order, extra channels, kV, CT ratio."""
    samples = phases(n)
    values = np.column_stack(
        [
            samples[:, 3],  # IA through a 600/5 CT, stored on the secondary side
            samples[:, 1] / 1000,  # VB in kV
            np.zeros(n),  # neutral current
            samples[:, 0] / 1000,
            samples[:, 4],
            samples[:, 2] / 1000,
            samples[:, 5],
            np.full(n, 50.0),  # a frequency channel
        ]
    )
    channels = [
        AnalogChannel("IA", "A", phase="A", ps="S", primary=600.0, secondary=5.0),
        AnalogChannel("VB", "kV", phase="B"),
        AnalogChannel("IN", "A", phase="N"),
        AnalogChannel("VA", "kV", phase="A"),
        AnalogChannel("IB", "A", phase="B"),
        AnalogChannel("VC", "kV", phase="C"),
        AnalogChannel("IC", "A", phase="C"),
        AnalogChannel("F", "Hz"),
    ]
    record = Record.from_values(values, channels, FS, START, time_code="+2", **options)
    (path, *_) = write(record, tmp_path / "fault.cfg")
    return path


def test_default_mapping_by_phase_and_unit_scaled_to_primary(tmp_path: Path) -> None:
    source = ComtradeReplay(read(recorder_file(tmp_path)), realtime=False)
    assert isinstance(source, Source)
    assert source.fs == FS
    # 12:00:00.25 at UTC+2
    assert source.start_time == calendar.timegm((2021, 6, 1, 10, 0, 0)) + 0.25
    first, rows = source.read(1000)
    assert first == 0
    assert rows.shape == (1000, 6)
    primary = source.scaling.to_primary(rows)
    # 16-bit storage: half a step of each channel's range.
    step = np.array([VOLTAGE] * 3 + [CURRENT] * 3) * np.sqrt(2) / 32767
    assert np.all(np.abs(primary - phases(1000)) <= step * 0.51)


def test_explicit_mapping_by_name_and_number(tmp_path: Path) -> None:
    record = read(recorder_file(tmp_path))
    assert channel_columns(record) == [3, 1, 5, 0, 4, 6]
    assert channel_columns(record, ["va", "VB", "6", 1, "IB", "7"]) == [3, 1, 5, 0, 4, 6]


@pytest.mark.parametrize(
    ("channels", "message"),
    [
        (["VA", "VB", "VC", "IA", "IB"], "one analog channel for each of"),
        (
            ["VA", "VB", "UC", "IA", "IB", "IC"],
            "no analog channel 'UC' for Vc; the record has 1 'IA'",
        ),
        (["VA", "VB", "VC", "IA", "IB", "VC"], "'VC' has unit 'kV', which is not a current unit"),
        (["VA", "VB", "F", "IA", "IB", "IC"], "'F' has unit 'Hz', which is not a voltage unit"),
        (["VA", "VA", "VC", "IA", "IB", "IC"], "use an analog channel twice"),
        (["VA", "VB", "VC", "IA", "IB", "99"], "no analog channel '99' for Ic"),
    ],
)
def test_bad_mappings_are_refused(tmp_path: Path, channels: list[str], message: str) -> None:
    record = read(recorder_file(tmp_path, n=64))
    with pytest.raises(InvalidInputError, match=message):
        ComtradeReplay(record, channels)


def test_default_mapping_needs_one_channel_per_phase(tmp_path: Path) -> None:
    record = read(recorder_file(tmp_path, n=64))
    twice = Record(
        **{**vars(record), "analog": (*record.analog[:2], record.analog[3], *record.analog[3:])}
    )
    with pytest.raises(
        InvalidInputError, match="for Va: analog channels of phase A in V units: 'VA', 'VA'"
    ):
        ComtradeReplay(twice)


def test_phasors_of_the_replayed_record(tmp_path: Path) -> None:
    source = ComtradeReplay(read(recorder_file(tmp_path)), realtime=False)
    estimator = PhasorEstimator(
        source.fs, 50.0, 50.0, scaling=source.scaling, start_time=source.start_time
    )
    frames = []
    while True:
        first, rows = source.read(333)
        if not len(rows):
            break
        frames.append(estimator.push(rows, first_index=first))
    assert first == 3200
    phasor = np.concatenate([f.phasor for f in frames])
    time_stamps = np.concatenate([f.time for f in frames])
    assert len(time_stamps) > 40
    # The estimator refers phases to cos(2 pi 50 t) on the absolute time base; the record
    # starts 0.25 s past a whole second, 12.5 cycles: its waves are upside down there.
    rotation = np.exp(-2j * np.pi * 50 * (source.start_time % 1))
    assert rotation == pytest.approx(-1)
    expected = rotation * np.concatenate(
        [VOLTAGE * np.exp(1j * SHIFT), CURRENT * np.exp(1j * (SHIFT - LAG))]
    )
    tve = np.abs(phasor - expected) / np.abs(expected)
    assert tve.max() < 1e-4


def test_real_time_replay_is_paced_and_ends(tmp_path: Path) -> None:
    source = ComtradeReplay(read(recorder_file(tmp_path, n=480)))
    begin = time.monotonic()
    total = 0
    while True:
        first, rows = source.read(160)
        if not len(rows):
            break
        assert first == total
        total += len(rows)
    assert total == 480
    assert time.monotonic() - begin >= 480 / FS  # never faster than the record's rate
    assert source.read(10)[0] == 480
    source.close()
    assert source.read(10)[1].shape == (0, 6)


def test_settings_from_a_file(tmp_path: Path) -> None:
    path = recorder_file(tmp_path, n=64)
    settings_file = tmp_path / "meter.toml"
    settings_file.write_text(
        f'[replay]\npath = "{path}"\nchannels = ["VA", "VB", "VC", "IA", "IB", "IC"]\n'
        "realtime = false\n"
    )
    settings = config.load(ReplaySettings, settings_file, section="replay", environ={})
    source = ComtradeReplay.open(settings)
    assert source.read(100)[1].shape == (64, 6)
    with pytest.raises(ConfigurationError, match=r"replay\.path"):
        ComtradeReplay.open(ReplaySettings())


def test_a_record_without_a_constant_rate_is_refused(tmp_path: Path) -> None:
    path = recorder_file(tmp_path, n=64)
    text = path.read_text().replace("\n1\n3200,64\n", "\n2\n3200,32\n1600,64\n")
    path.write_text(text)
    with pytest.raises(InvalidInputError, match=r"fault\.cfg:12: nrates: .*constant sampling rate"):
        ComtradeReplay(read(path))
