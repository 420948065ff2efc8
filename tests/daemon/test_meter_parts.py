"""The daemon's parts that need no process: settings, provisioning, the spool, backoff and
the built-in algorithms' arithmetic."""

import datetime
import itertools
import json
import logging
from pathlib import Path

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gridedge import config, packages
from gridedge.errors import ConfigurationError
from gridedge.meter import backoff
from gridedge.meter.builtins import BUILTINS, build, se_lv
from gridedge.meter.builtins.phasor_publisher import PhasorPublisher
from gridedge.meter.builtins.power_quality import thd
from gridedge.meter.phasor import Frames, PhasorEstimator
from gridedge.meter.plugin import Context, Measurement, number_parameter
from gridedge.meter.portion import switch_states
from gridedge.meter.provisioning import Provisioning
from gridedge.meter.settings import changes, parse
from gridedge.meter.spool import Spool
from gridedge.mqtt import Topics

DOCUMENT = {
    "id": "M1",
    "kind": "meter",
    "revision": 3,
    "update_interval_s": 60,
    "timeout_s": 180,
    "brokers": {
        "grid": {"host": "127.0.0.1", "port": 1883, "tls": False},
        "monitoring": {"host": "127.0.0.1", "port": 1884, "tls": False},
    },
    "topics": {"prefix": "gridedge/"},
    "algorithms": [
        {
            "name": "phasor-publisher",
            "version": "1.0.0",
            "sha256": "a" * 64,
            "url": "/v1/algorithms/phasor-publisher/1.0.0",
            "parameters": {"decimation": 10},
            "api_version": 1,
            "entry_point": "phasor_publisher:create",
        }
    ],
    "topology": None,
    "parameters": {"acquisition": {"backend": "simulated", "options": {"meter": "M1"}}},
}


def edited(**changes_):
    document = json.loads(json.dumps(DOCUMENT))
    document.update(changes_)
    return document


def test_settings_parse_and_compare():
    first = parse(DOCUMENT, "M1")
    assert first.etag == '"r3"'
    assert first.brokers["monitoring"].port == 1884
    assert first.algorithms[0].parameters == {"decimation": 10}
    assert first.acquisition.fs == 6400.0
    assert first.acquisition.options == {"meter": "M1"}
    moved = edited(
        revision=4,
        brokers={**DOCUMENT["brokers"], "grid": {"host": "10.0.0.2", "port": 1883}},
        topology={"version": 2, "meter": "M1"},
    )
    moved["algorithms"] = [
        {**DOCUMENT["algorithms"][0], "parameters": {"decimation": 5}},
        {**DOCUMENT["algorithms"][0], "name": "power-quality"},
    ]
    found = changes(first, parse(moved, "M1"))
    assert found.brokers == {"grid"}
    assert found.topology
    assert not found.topics
    assert not found.acquisition
    assert found.added == {"power-quality"}
    assert found.reparameterised == {"phasor-publisher"}
    assert not found.updated
    assert not found.removed


@pytest.mark.parametrize(
    ("document", "device", "message"),
    [
        (edited(id="M2"), "M1", "is not this meter"),
        (edited(revision=-1), "M1", "settings.revision"),
        (edited(brokers={"grid": DOCUMENT["brokers"]["grid"]}), "M1", "no 'monitoring'"),
        (edited(topics={"prefix": "no-slash"}), "M1", "settings.topics.prefix"),
        (edited(algorithms=[{"name": "x"}]), "M1", r"settings\.algorithms\[0\]\.version"),
        (
            edited(parameters={"acquisition": {"backend": "carrier pigeon"}}),
            "M1",
            "acquisition.backend",
        ),
        (edited(parameters={"acquisition": {"fs": 0}}), "M1", "acquisition.fs"),
        (edited(parameters={"acquisition": {"rate": 1}}), "M1", "unknown setting 'rate'"),
    ],
)
def test_bad_settings_name_the_field(document, device, message):
    with pytest.raises(ConfigurationError, match=message):
        parse(document, device)


def test_provisioning_from_a_file_the_environment_and_checks(tmp_path: Path):
    path = tmp_path / "meter.toml"
    key = "ab" * 32
    path.write_text(
        f'[meter]\ndevice_id = "M1"\ncatalog_url = "http://127.0.0.1:8080"\n'
        f'credential = "{tmp_path / "token"}"\ntrusted_keys = ["{key}"]\n'
    )
    (tmp_path / "token").write_text("M1.secret\n")
    loaded = config.load(
        Provisioning, path, section="meter", environ={"GRIDEDGE_METER_PROBATION_S": "5"}
    )
    loaded.check_complete()
    assert loaded.token() == "M1.secret"
    assert loaded.probation_s == 5.0
    with pytest.raises(ConfigurationError, match=r"meter\.credential is not set"):
        Provisioning(device_id="M1", catalog_url="http://x", trusted_keys=(key,)).check_complete()
    with pytest.raises(ConfigurationError, match="trusted_keys"):
        Provisioning(trusted_keys=("not a key",))
    with pytest.raises(ConfigurationError, match="catalog_url"):
        Provisioning(catalog_url="ftp://catalog")


def test_the_spool_keeps_order_bounds_its_size_and_survives_a_restart(tmp_path: Path):
    path = tmp_path / "outbox.sqlite3"
    spool = Spool(path, max_bytes=1000)
    for n in range(30):
        spool.append("t", json.dumps({"n": n}).encode().ljust(99), False)
    # 100 bytes each (topic included): the ten newest fit, the twenty oldest were dropped.
    assert len(spool) == 10
    assert spool.dropped == 20
    spool.delete([r[0] for r in spool.peek(3)])
    # Messages sent but never acknowledged go back before the others.
    spool.prepend([("t", b"older-1", True), ("t", b"older-2", False)])
    rows = spool.peek(100)
    assert [r[2] for r in rows[:2]] == [b"older-1", b"older-2"]
    assert [r[3] for r in rows[:2]] == [True, False]
    assert [json.loads(r[2])["n"] for r in rows[2:]] == list(range(23, 30))
    spool.close()
    again = Spool(path, max_bytes=1000)
    assert [r[2] for r in again.peek(100)] == [r[2] for r in rows]
    assert again.bytes == 7 * 100 + 2 * 8
    again.close()


def test_backoff_doubles_to_its_ceiling_and_jitters_within_the_upper_half():
    lows = list(itertools.islice(backoff.delays(0.5, 10.0, uniform=lambda a, b: a), 8))
    highs = list(itertools.islice(backoff.delays(0.5, 10.0, uniform=lambda a, b: b), 8))
    assert highs == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0, 10.0]
    assert lows == [h / 2 for h in highs]
    with pytest.raises(ConfigurationError):
        next(backoff.delays(0.0, 1.0))


def test_thd_of_a_known_signal():
    fs, f0 = 6400.0, 50.0
    t = np.arange(1280) / fs  # ten cycles
    wave = np.cos(2 * np.pi * f0 * t) + 0.04 * np.cos(10 * np.pi * f0 * t) + 0.2
    both = np.column_stack([wave, np.cos(2 * np.pi * f0 * t)])
    assert thd(both, 40) == pytest.approx([0.04, 0.0], abs=1e-12)


def test_the_phasor_publisher_body_and_decimation():
    sent = []
    publisher = PhasorPublisher()
    publisher._decimation, publisher._topic = 2, "m"
    publisher._publish = lambda topic, body: sent.append(body)
    frames = Frames(
        time=np.array([1.0, 1.02, 1.04]),
        phasor=np.tile(np.array([100 + 0j, 100, 100, 1 + 1j, 1, 1]), (3, 1)),
        frequency=np.array([50.0, np.nan, 50.0]),
        rocof=np.zeros(3),
        valid=np.array([True, False, True]),
    )
    publisher.on_frames(frames)
    assert [b["t"] for b in sent] == [1.0, 1.04]
    assert sent[0]["phasors"]["Ia"] == [1.0, 1.0]
    assert sent[0]["p"] == pytest.approx(300.0)
    assert sent[0]["q"] == pytest.approx(-100.0)
    publisher.on_frames(frames)  # the count carries over blocks
    assert [b["t"] for b in sent] == [1.0, 1.04, 1.02]
    assert sent[-1]["frequency"] is None


def test_switch_states_come_from_the_topology_portion():
    assert switch_states(None) == {}
    topology = {"switches": [{"id": "S1", "bus": "B1"}, {"id": "S2", "bus": "B2", "closed": False}]}
    assert switch_states(topology) == {"S1": True, "S2": False}


def test_the_built_ins_build_as_verifiable_packages():
    key = Ed25519PrivateKey.generate()
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=1)
    names = []
    for builtin in BUILTINS:
        verified = packages.verify(build(builtin, key, later), [key.public_key()])
        assert verified.manifest.entry_point == f"{builtin.module}:create"
        names.append(verified.manifest.name)
    assert names == [
        "phasor-publisher",
        "fault-detector",
        "fault-reporter",
        "power-quality",
        "se-lv",
        "se-mv",
    ]


def test_number_parameters_are_checked_and_named() -> None:
    assert number_parameter({}, "keep_s", 3.0, minimum=1.0) == 3.0
    assert number_parameter({"keep_s": 2}, "keep_s", 3.0, minimum=1.0) == 2.0
    assert number_parameter({"collect_s": 0}, "collect_s", 1.0) == 0.0
    for value in (True, "2", float("nan"), 0.5):
        with pytest.raises(ConfigurationError, match=r"keep_s must be a number >= 1, got"):
            number_parameter({"keep_s": value}, "keep_s", 3.0, minimum=1.0)
    with pytest.raises(ConfigurationError, match=r"interval_s must be a number > 0, got 0"):
        number_parameter({"interval_s": 0}, "interval_s", 1.0, inclusive=False)


def test_a_level_keeps_its_rounds_across_a_configuration_that_changes_nothing_of_them():
    sent = []
    level = se_lv.create()

    def context(topology):
        return Context(
            meter_id="M2",
            name="se-lv",
            version="1.0.0",
            parameters={"case": "turin", "transformer": "TS03", "interval_s": 1.0, "wait_s": 0.1},
            topology=topology,
            topics=Topics(),
            measurement=Measurement.of(PhasorEstimator(6400.0)),
            publish=lambda topic, body: sent.append(body["time"]),
            logger=logging.getLogger("test"),
        )

    phases = np.exp(-2j * np.pi * np.arange(3) / 3)
    row = np.concatenate([22e3 / np.sqrt(3) * phases, 5.0 * phases])

    def feed(start: float, seconds: float) -> None:
        t = start + np.arange(round(50 * seconds)) / 50
        level.on_frames(
            Frames(
                t,
                np.tile(row, (t.size, 1)),
                np.full(t.size, 50.0),
                np.zeros(t.size),
                np.ones(t.size, dtype=bool),
            )
        )

    level.configure(context(None))
    # A round needs a whole window of readings before it: 102 runs (without concentrators,
    # an estimate or an error is published alike).
    feed(100.0, 2.55)
    # A topology push elsewhere while round 103 is under way: it still runs.
    level.configure(context({"switches": [{"id": "TIE@SS06", "bus": "SS06", "closed": True}]}))
    feed(102.55, 1.0)
    assert sent == [102.0, 103.0]
