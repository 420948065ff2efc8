"""COMTRADE records: round trips, the comtrade package as an independent reader, hand-made
files read by both, scaling and time, and malformed files rejected with file, line and field."""

import calendar
import re
import struct
from datetime import datetime
from pathlib import Path

import comtrade
import numpy as np
import pytest

from gridedge.errors import InvalidInputError
from gridedge.meter.comtrade import (
    FILE_TYPES,
    AnalogChannel,
    Record,
    SampleRate,
    StatusChannel,
    read,
    write,
)

FS = 3200.0
START = datetime(2022, 3, 4, 5, 6, 7, 123456)
CHANNELS = (
    AnalogChannel("VA", "V", phase="A", ps="S", primary=20000.0, secondary=100.0),
    AnalogChannel("VB", "V", phase="B"),
    AnalogChannel("VC", "kV", phase="C"),
    AnalogChannel("IA", "A", phase="A", ps="S", primary=600.0, secondary=5.0),
    AnalogChannel("IB", "A", phase="B", circuit="feeder 1"),
    AnalogChannel("IC", "A", phase="C", skew=12.5),
)
STATUS = (StatusChannel("TRIP", normal=0), StatusChannel("CB OPEN", phase="A", normal=1))
CASES = [(1999, t, ".cfg") for t in FILE_TYPES] + [
    (2013, t, s) for t in FILE_TYPES for s in (".cfg", ".cff")
]


def waves(n: int = 640) -> np.ndarray:
    t = np.arange(n) / FS
    angles = 2 * np.pi * 50 * t[:, None] - np.array([0, 2, 4, 0.5, 2.5, 4.5]) * np.pi / 3
    peaks = np.array([20000, 230, 0.4, 500, 100, 100]) * np.sqrt(2)
    return peaks * np.cos(angles)


def make_record(revision: int, file_type: str, n: int = 640) -> Record:
    digital = np.zeros((n, len(STATUS)), dtype=np.uint8)
    digital[n // 3 :, 0] = 1
    digital[:, 1] = np.arange(n) % 2
    return Record.from_values(
        waves(n),
        CHANNELS,
        FS,
        START,
        file_type=file_type,
        revision=revision,
        station="Turin PS1",
        device="M1",
        status=STATUS,
        digital=digital,
        time_code="+1" if revision == 2013 else "0",
    )


def load_with_oracle(path: Path) -> comtrade.Comtrade:
    return comtrade.load(str(path), use_numpy_arrays=True, use_double_precision=True)


@pytest.mark.parametrize(("revision", "file_type", "suffix"), CASES)
def test_round_trip_and_the_comtrade_package_reads_what_we_write(
    tmp_path: Path, revision: int, file_type: str, suffix: str
) -> None:
    record = make_record(revision, file_type)
    written = write(record, tmp_path / f"rec{suffix}")
    assert [p.suffix for p in written] == ([".cfg", ".dat"] if suffix == ".cfg" else [".cff"])
    back = read(written[0])
    assert back == record
    assert back.path == str(written[0])

    oracle = load_with_oracle(written[0])
    assert oracle.rev_year == str(revision)
    assert (oracle.station_name, oracle.rec_dev_id) == ("Turin PS1", "M1")
    assert oracle.analog_channel_ids == [c.name for c in CHANNELS]
    assert oracle.status_channel_ids == [c.name for c in STATUS]
    assert oracle.cfg.sample_rates == [[FS, 640]]
    assert oracle.frequency == 50.0
    assert oracle.start_timestamp == START
    assert oracle.cfg.ft == file_type
    for ours, theirs in zip(back.analog, oracle.cfg.analog_channels, strict=True):
        assert (theirs.uu, theirs.ph, theirs.ccbm, theirs.pors) == (
            ours.unit,
            ours.phase,
            ours.circuit,
            ours.ps,
        )
        assert (theirs.primary, theirs.secondary, theirs.skew) == (
            ours.primary,
            ours.secondary,
            ours.skew,
        )
    a = np.array([c.a for c in back.analog])
    b = np.array([c.b for c in back.analog])
    np.testing.assert_allclose(np.stack(oracle.analog, axis=1), back.raw * a + b, rtol=1e-12)
    np.testing.assert_array_equal(np.stack(oracle.status, axis=1), record.digital)
    np.testing.assert_allclose(oracle.time, np.arange(640) / FS, atol=1e-12)


@pytest.mark.parametrize("file_type", FILE_TYPES)
def test_primary_values_within_the_quantisation_of_the_format(file_type: str) -> None:
    record = make_record(2013, file_type)
    error = np.abs(record.primary() - waves())
    step = np.abs([c.gain for c in record.analog])
    if file_type == "FLOAT32":
        assert np.all(error <= np.abs(waves()) * 2**-23)
    else:
        assert np.all(error <= step / 2 * (1 + 1e-9))
    # PS = S channels store secondary values: primary / ratio.
    assert record.analog[0].ratio == 200.0
    assert record.analog[1].ratio == 1.0
    np.testing.assert_allclose(
        (record.raw[:, 0] * record.analog[0].a + record.analog[0].b) * 200.0,
        record.primary()[:, 0],
    )


def test_missing_values_survive_every_format(tmp_path: Path) -> None:
    values = waves(64)
    values[5, 1] = np.nan
    values[7:9, 4] = np.nan
    for file_type in FILE_TYPES:
        record = Record.from_values(values, CHANNELS, FS, START, file_type=file_type)
        (cfg, _) = write(record, tmp_path / f"{file_type}.cfg")
        back = read(cfg)
        assert np.array_equal(np.isnan(back.raw), np.isnan(values))
        oracle = np.stack(load_with_oracle(cfg).analog, axis=1)
        assert np.array_equal(np.isnan(oracle), np.isnan(values))


def test_start_time_is_absolute_utc_from_the_time_code() -> None:
    record = make_record(2013, "BINARY")
    local = calendar.timegm(START.timetuple()) + START.microsecond / 1e6
    assert record.time_code == "+1"
    assert record.start_time == pytest.approx(local - 3600, abs=1e-6)
    west = Record.from_values(waves(8), CHANNELS, FS, START, time_code="-5h30")
    assert west.start_time == pytest.approx(local + 5.5 * 3600, abs=1e-6)
    assert make_record(1999, "ASCII").start_time == pytest.approx(local, abs=1e-6)
    assert west.trigger_time == west.start_time


# --------------------------------------------------------------------------------------------
# Files made by hand, as another recorder would write them (LF line ends, lower-case format,
# blank time stamps, missing-data codes, an end-of-file character), read by us and the oracle.

HAND_CFG_1999 = """\
Substation 9,DFR 7,1999
5,3A,2D
1,Va,A,Line 1,kV,0.01,0,0,-32767,32767,132,0.11,S
2,Ib,B,Line 1,A,0.5,-1.5,0,-32767,32767,1200,5,P
3,Vx,,,V,2,0,0,-99999,99998,1,1,P
1,52a,,,0
2,Trip,A,,1
60
1
1200,5
15/01/2021,23:59:59.250000
15/01/2021,23:59:59.260000
{ft}
1
"""


def hand_ascii(tmp_path: Path) -> Path:
    (tmp_path / "hand.cfg").write_text(HAND_CFG_1999.format(ft="ascii"))
    rows = [
        "1,0,100,-200,5,0,1",
        "2,833,99999,-150,6,0,1",
        "3,,300,-100,7,1,0",
        "4,2500,400,-50,8,1,0",
        "5,3333,500,0,9,1,1",
    ]
    (tmp_path / "hand.dat").write_text("\n".join(rows) + "\n\x1a")
    return tmp_path / "hand.cfg"


def hand_binary(tmp_path: Path) -> Path:
    (tmp_path / "bin.cfg").write_text(HAND_CFG_1999.format(ft="BINARY"))
    records = [
        (1, 0, 100, -200, 5, 0b10),
        (2, 833, -32768, -150, 6, 0b10),
        (3, 0xFFFFFFFF, 300, -100, 7, 0b01),
        (4, 2500, 400, -50, 8, 0b01),
        (5, 3333, 500, 0, 9, 0b11),
    ]
    data = b"".join(struct.pack("<IIhhhH", *r) for r in records)
    (tmp_path / "bin.dat").write_bytes(data)
    return tmp_path / "bin.cfg"


@pytest.mark.parametrize("make", [hand_ascii, hand_binary])
def test_hand_made_records_read_alike_by_us_and_the_oracle(tmp_path: Path, make) -> None:
    path = make(tmp_path)
    record = read(path)
    assert record.revision == 1999
    assert record.rates == (SampleRate(1200.0, 5),)
    assert record.constant_rate() == 1200.0
    assert record.frequency == 60.0
    assert [c.name for c in record.analog] == ["Va", "Ib", "Vx"]
    assert record.analog[0].ratio == pytest.approx(1200.0)
    np.testing.assert_array_equal(record.raw[:, 2], [5, 6, 7, 8, 9])
    assert np.isnan(record.raw[1, 0])
    assert np.isnan(record.timestamp[2])
    np.testing.assert_array_equal(record.digital, [[0, 1], [0, 1], [1, 0], [1, 0], [1, 1]])
    oracle = load_with_oracle(path)
    a = np.array([c.a for c in record.analog])
    b = np.array([c.b for c in record.analog])
    np.testing.assert_allclose(
        np.stack(oracle.analog, axis=1), record.raw * a + b, rtol=1e-12, equal_nan=True
    )
    np.testing.assert_array_equal(np.stack(oracle.status, axis=1), record.digital)
    assert oracle.start_timestamp == record.start
    assert record.start_time == calendar.timegm((2021, 1, 15, 23, 59, 59)) + 0.25
    # Written again by us, the record reads back unchanged.
    (again, _) = write(record, tmp_path / "again.cfg")
    assert read(again) == record


def test_nanosecond_times_are_rounded_to_microseconds(tmp_path: Path) -> None:
    record = make_record(2013, "BINARY", n=8)
    (cfg, _) = write(record, tmp_path / "ns.cfg")
    cfg.write_text(cfg.read_text().replace("05:06:07.123456", "05:06:07.123456789"))
    back = read(cfg)
    assert back.start == back.trigger == datetime(2022, 3, 4, 5, 6, 7, 123457)


def test_a_record_needs_a_constant_rate(tmp_path: Path) -> None:
    two_rates = HAND_CFG_1999.format(ft="ASCII").replace("1\n1200,5\n", "2\n1200,3\n600,5\n")
    (tmp_path / "two.cfg").write_text(two_rates)
    (tmp_path / "two.dat").write_text(hand_ascii(tmp_path).with_suffix(".dat").read_text())
    record = read(tmp_path / "two.cfg")
    assert record.rates == (SampleRate(1200.0, 3), SampleRate(600.0, 5))
    with pytest.raises(InvalidInputError, match=r"two\.cfg:9: nrates: .*changes its sampling"):
        record.constant_rate()
    stamps_only = HAND_CFG_1999.format(ft="ASCII").replace("1\n1200,5\n", "0\n0,5\n")
    (tmp_path / "two.cfg").write_text(stamps_only)
    record = read(tmp_path / "two.cfg")
    with pytest.raises(InvalidInputError, match=r"two\.cfg:9: nrates: .*no fixed sampling"):
        record.constant_rate()
    (cfg, _) = write(record, tmp_path / "stamps.cfg")
    assert read(cfg) == record


# --------------------------------------------------------------------------------------------
# Malformed files: each error names the file, the line and the field.

MALFORMED_CONFIG = [
    ("Substation 9,DFR 7,1999", "Substation 9,DFR 7,1991", 1, "rev_year: revision 1991"),
    ("Substation 9,DFR 7,1999", "Substation 9,DFR 7", 1, "expected 3 fields"),
    ("5,3A,2D", "6,3A,2D", 2, "TT: 6 is not 3 analog"),
    ("5,3A,2D", "5,3,2D", 2, "##A,##D"),
    ("0.01,0,0,-32767", "0.0x,0,0,-32767", 3, "analog channel 1: a: '0.0x' is not a number"),
    ("1200,5,P", "1200,5,Q", 4, "analog channel 2: PS: 'Q' is neither P nor S"),
    ("1200,5,P", "1200,5", 4, "analog channel 2: expected 13 fields"),
    ("3,Vx,", "4,Vx,", 5, "analog channel 3: An: expected channel number 3"),
    ("132,0.11,S", "132,0,S", 3, "analog channel 1: secondary: must be positive"),
    ("2,Trip,A,,1", "2,Trip,A,,2", 7, "status channel 2: y: normal state must be 0 or 1"),
    ("\n60\n1\n", "\n60\n-1\n", 9, "nrates: -1 is below 0"),
    ("1200,5\n", "0,5\n", 10, "samp: sampling rate must be positive"),
    ("15/01/2021,23:59:59.250000", "32/01/2021,23:59:59.250000", 11, "start date and time"),
    ("2021,23:59:59.260000", "2021,23:59", 12, "trigger date and time: time '23:59'"),
    ("{ft}", "TEXT", 13, "ft: 'TEXT' is not one of"),
    ("{ft}\n1\n", "{ft}\n0\n", 14, "timemult: must be positive"),
    ("{ft}\n1\n", "{ft}\n", 14, "timemult: missing line"),
]


@pytest.mark.parametrize(("old", "new", "line", "message"), MALFORMED_CONFIG)
def test_malformed_configuration(tmp_path: Path, old: str, new: str, line: int, message: str):
    hand_ascii(tmp_path)
    text = HAND_CFG_1999.replace(old, new, 1).format(ft="ASCII")
    (tmp_path / "hand.cfg").write_text(text)
    with pytest.raises(InvalidInputError) as caught:
        read(tmp_path / "hand.cfg")
    assert f"hand.cfg:{line}: " in str(caught.value)
    assert message in str(caught.value)


def test_malformed_2013_time_lines(tmp_path: Path) -> None:
    (cfg, _) = write(make_record(2013, "BINARY", n=4), tmp_path / "r.cfg")
    good = cfg.read_text()
    lines = good.splitlines()
    for number, replacement, message in [
        (len(lines) - 1, "+25,0", "time_code: time code '+25' is out of range"),
        (len(lines) - 1, "1,y", "local_code: time code 'y'"),
        (len(lines), "G,0", "tmq_code: 'G' is not one hexadecimal digit"),
        (len(lines), "0,4", "leapsec: must be 0 to 3"),
    ]:
        changed = lines.copy()
        changed[number - 1] = replacement
        cfg.write_text("\r\n".join(changed) + "\r\n")
        with pytest.raises(InvalidInputError, match=re.escape(f"r.cfg:{number}: {message}")):
            read(cfg)


def test_malformed_data_files(tmp_path: Path) -> None:
    cfg = hand_ascii(tmp_path)
    dat = cfg.with_suffix(".dat")
    good = dat.read_text()
    cases = [
        (good.replace("3,,300,-100,7,1,0", "3,,300,-100,7,1"), "hand.dat:3: sample line"),
        (good.replace("4,2500,400,-50,8", "4,2500,400,-5O,8"), "hand.dat:4: analog channel 2"),
        (good.replace("5,3333,500,0,9,1,1", "5,3333,500,0,9,2,1"), "hand.dat:5: status channel 1"),
        (good.replace("5,3333,500,0,9,1,1\n", ""), "holds 4 samples, but .*hand.cfg:10: endsamp"),
    ]
    for text, message in cases:
        dat.write_text(text)
        with pytest.raises(InvalidInputError, match=message):
            read(cfg)
    dat.unlink()
    with pytest.raises(InvalidInputError, match=r"cannot read .*hand\.dat"):
        read(cfg)
    binary = hand_binary(tmp_path)
    data = binary.with_suffix(".dat")
    data.write_bytes(data.read_bytes()[:-1])
    with pytest.raises(InvalidInputError, match=r"bin.dat: size 79 bytes .* records of 16 bytes"):
        read(binary)


def test_malformed_cff_files(tmp_path: Path) -> None:
    (cff,) = write(make_record(2013, "BINARY", n=4), tmp_path / "r.cff")
    good = cff.read_bytes()
    cases = [
        (
            good.replace(b"DAT BINARY: 88 ---", b"DAT BINARY: 90 ---"),
            "r.cff:23: DAT section of 90 bytes, but only 88 follow",
        ),
        (
            good.replace(b"DAT BINARY: 88", b"DAT ASCII: 88"),
            "r.cff:23: DAT section holds ASCII, but the configuration says ft BINARY",
        ),
        (good.split(b"--- file type: DAT")[0], "r.cff: no '--- file type: DAT ---' section"),
        (b"hello\r\n" + good, "r.cff:1: expected '--- file type: CFG ---'"),
        (good.replace(b"1,TRIP,,,0", b"1,TRIP,,,5"), "r.cff:10: status channel 1: y"),
        (good.replace(b"M1,2013", b"M1,1999"), "r.cff:2: rev_year: a .cff file holds a 2013"),
    ]
    for content, message in cases:
        cff.write_bytes(content)
        with pytest.raises(InvalidInputError, match=re.escape(message)):
            read(cff)


def test_writer_refuses_what_the_format_cannot_hold(tmp_path: Path) -> None:
    record = make_record(2013, "BINARY", n=4)
    with pytest.raises(InvalidInputError, match="contains a comma"):
        write(
            Record.from_values(waves(4), [AnalogChannel("V,A", "V")] * 6, FS, START),
            tmp_path / "a.cfg",
        )
    raw = record.raw.copy()
    raw[0, 1] = 0.5
    with pytest.raises(InvalidInputError, match=r"analog channel 2 \(VB\), sample 1: 0\.5 is"):
        write(Record(**{**vars(record), "raw": raw}), tmp_path / "b.cfg")
    with pytest.raises(InvalidInputError, match="a 1999 record has no time code"):
        Record(**{**vars(record), "revision": 1999})
    old = make_record(1999, "ASCII", n=4)
    with pytest.raises(InvalidInputError, match=r"c\.cff: a \.cff file holds a 2013 record"):
        write(old, tmp_path / "c.cff")
    with pytest.raises(InvalidInputError, match=r"a \.cfg or a \.cff"):
        write(record, tmp_path / "d.txt")
    with pytest.raises(InvalidInputError, match=r"a \.cfg or a \.cff"):
        read(tmp_path / "d.txt")
    with pytest.raises(InvalidInputError, match=r"raw must have shape \(n, 6\)"):
        Record(**{**vars(record), "raw": record.raw[:, :5]})


def test_long_records_scale_their_time_stamps_into_32_bits(tmp_path: Path) -> None:
    record = Record.from_values(np.zeros((1000, 1)), [AnalogChannel("V", "V")], 0.1, START)
    assert record.timemult == 3.0  # 10,000 s of microseconds do not fit in 32 bits
    (cfg, _) = write(record, tmp_path / "long.cfg")
    oracle = load_with_oracle(cfg)
    assert oracle.cfg.timemult == 3.0
    assert read(cfg) == record
