"""The algorithm host in one process: one thread per algorithm, bounded queues, the watchdog,
declared outputs only; a failing algorithm stops nobody else."""

import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from gridedge.channels import ChannelScaling
from gridedge.errors import ConfigurationError
from gridedge.meter.host import AlgorithmFailedError, Host, Slot, State
from gridedge.meter.installer import Installed
from gridedge.meter.phasor import Frames, PhasorEstimator
from gridedge.meter.plugin import Context, Declaration, Measurement, Output, Subscription
from gridedge.mqtt import Topics

SOURCE = """
import time
from gridedge.meter.plugin import FRAMES, BaseAlgorithm, Declaration, Output

class Algo(BaseAlgorithm):
    def configure(self, context):
        self.context = context
        self.behaviour = context.parameters.get("behaviour")
        if self.behaviour == "configure-hangs":
            time.sleep(60)
        self.topic = "out/" + context.name
        return Declaration(inputs=frozenset({FRAMES}), outputs=(Output(self.topic),))

    def on_frames(self, frames):
        if self.behaviour == "raise":
            raise ValueError("broken on purpose")
        if self.behaviour == "hang":
            time.sleep(60)
        if self.behaviour == "slow":
            time.sleep(0.05)
        if self.behaviour == "undeclared":
            self.context.publish("elsewhere", {})
        self.context.publish(self.topic, len(frames))

    def close(self):
        self.context.publish(self.topic, "closed")

def create():
    return Algo()
"""


def installed(tmp_path: Path, name: str, source: str = SOURCE) -> Installed:
    path = tmp_path / name
    (path / "payload").mkdir(parents=True)
    (path / "payload" / "algo.py").write_text(source)
    manifest = {"name": name, "version": "1.0.0", "entry_point": "algo:create"}
    (path / "manifest.json").write_text(json.dumps(manifest))
    return Installed(name, "1.0.0", path, manifest, "0" * 64)


class Bench:
    """Slots on a host, their messages and their failures."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.host = Host(watchdog_interval_s=0.01)
        self.host.start()
        self.sent: list[tuple[str, object]] = []
        self.failures: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        self.estimator = PhasorEstimator(6400.0)

    def emit(self, output: Output, body: object) -> None:
        with self.lock:
            self.sent.append((output.topic, body))

    def start(self, name: str, behaviour: str | None = None, **kwargs) -> Slot:
        slot = Slot(
            installed(self.tmp_path, name),
            deadline_s=kwargs.pop("deadline_s", 0.2),
            configure_timeout_s=kwargs.pop("configure_timeout_s", 1.0),
            queue_length=kwargs.pop("queue_length", 16),
            emit=self.emit,
            on_failure=lambda s, reason: self.failures.append((s.name, reason)),
        )
        context = Context(
            meter_id="M1",
            name=name,
            version="1.0.0",
            parameters={"behaviour": behaviour},
            topology=None,
            topics=Topics(),
            measurement=Measurement.of(self.estimator),
            publish=slot.publish,
            logger=__import__("logging").getLogger("test"),
        )
        self.host.watch(slot)
        slot.start(context)
        slot.state = State.RUNNING
        self.host.place(slot)
        return slot

    def frames(self, count: int = 1) -> Frames:
        return Frames(
            time=np.arange(count, dtype=float),
            phasor=np.ones((count, 6), dtype=complex),
            frequency=np.full(count, 50.0),
            rocof=np.zeros(count),
            valid=np.ones(count, dtype=bool),
        )

    def wait(self, condition, timeout: float = 5.0) -> None:
        end = time.monotonic() + timeout
        while not condition():
            assert time.monotonic() < end
            time.sleep(0.005)

    def count(self, topic: str) -> int:
        with self.lock:
            return sum(1 for t, body in self.sent if t == topic and body != "closed")


@pytest.fixture
def bench(tmp_path):
    bench = Bench(tmp_path)
    yield bench
    bench.host.close(0.5)


@pytest.mark.parametrize("behaviour", ["raise", "hang", "undeclared"])
def test_a_failing_algorithm_is_failed_alone(bench, behaviour):
    good = bench.start("good")
    bad = bench.start("bad", behaviour)
    for _ in range(20):
        bench.host.on_frames(bench.frames())
        time.sleep(0.005)
    # The state changes first, then the failure is reported (from the thread that saw it).
    bench.wait(lambda: bad.state is State.FAILED and bench.failures)
    bench.wait(lambda: bench.count("out/good") == 20)
    assert good.state is State.RUNNING
    assert [name for name, _ in bench.failures] == ["bad"]
    reason = bench.failures[0][1]
    expected = {
        "raise": "on_frames raised ValueError: broken on purpose",
        "hang": "on_frames still running after",
        "undeclared": "'elsewhere' is not a declared output ['out/bad']",
    }[behaviour]
    assert expected in reason
    assert bench.count("out/bad") == 0
    # Failed: no more inputs, and a failed algorithm publishes nothing even if it wakes up.
    assert not bad.offer("on_frames", bench.frames())
    bad.publish("out/bad", 1)
    assert bench.count("out/bad") == 0


def test_a_full_queue_drops_inputs_and_counts_them(bench):
    slow = bench.start("slow", "slow", queue_length=2, deadline_s=1.0)
    offered = [slow.offer("on_frames", bench.frames()) for _ in range(10)]
    assert offered.count(False) >= 7
    assert slow.dropped == offered.count(False)
    bench.wait(lambda: bench.count("out/slow") == offered.count(True))
    assert slow.state is State.RUNNING


def test_loading_that_hangs_or_fails_raises_and_never_runs(bench, tmp_path):
    with pytest.raises(AlgorithmFailedError, match="load still running after"):
        bench.start("stuck", "configure-hangs", configure_timeout_s=0.2)
    slot = Slot(
        installed(tmp_path, "broken", source="def create(:\n"),
        deadline_s=0.2,
        configure_timeout_s=1.0,
        queue_length=4,
        emit=bench.emit,
        on_failure=lambda s, r: None,
    )
    with pytest.raises(AlgorithmFailedError, match="SyntaxError"):
        slot.start(None)  # the import fails before the context is looked at


def test_stop_closes_the_algorithm_in_its_thread(bench):
    slot = bench.start("closing")
    bench.host.remove("closing")
    slot.stop(1.0)
    assert slot.state is State.STOPPED
    assert ("out/closing", "closed") in bench.sent


def test_declarations_are_checked():
    with pytest.raises(ConfigurationError, match="not among"):
        Declaration(inputs=frozenset({"pictures"}))
    with pytest.raises(ConfigurationError, match="need 'messages'"):
        Declaration(inputs=frozenset({"frames"}), subscriptions=(Subscription("a/#"),))
    with pytest.raises(ConfigurationError, match="declared twice"):
        Declaration(inputs=frozenset(), outputs=(Output("a"), Output("a", broker="grid")))
    with pytest.raises(ConfigurationError, match="wildcard"):
        Output("a/#")
    with pytest.raises(ConfigurationError, match="broker"):
        Output("a", broker="elsewhere")


def test_measurement_describes_the_estimator():
    estimator = PhasorEstimator(6400.0, 50.0, 50.0, scaling=ChannelScaling.identity())
    measurement = Measurement.of(estimator)
    assert measurement.fs == 6400.0
    assert measurement.window_s == pytest.approx(0.02)
    assert measurement.latency_s == pytest.approx(estimator.latency)
