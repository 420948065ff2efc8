"""A test algorithm whose behaviour its parameters choose, packaged by the tests.

It publishes on ``{prefix}test/{meter}/{name}`` (grid broker, events): once after every
``configure`` what it was configured with, then per its parameters:

``fail``: ``"raise"`` (on_frames raises), ``"hang"`` (on_frames sleeps an hour),
``"overrun"`` (on_frames takes ``overrun_s``), each once more than ``after`` frames (10)
arrived; ``"undeclared"`` (publishes on a topic it did not declare), ``"configure"``
(configure raises);
``configure_sleep_s``: seconds configure takes;
``listen``: topic filters (grid broker) whose messages it echoes;
``burst`` and ``per_frame``: publish ``burst`` numbered events, ``per_frame`` per frame block.

With a marker path, importing the module writes the marker file: proof that its code ran.
"""

import datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gridedge import packages

SOURCE = """
import pathlib
import time

from gridedge.meter.plugin import (
    EVENT, FRAMES, MESSAGES, BaseAlgorithm, Declaration, Output, Subscription,
)

MARKER = {marker!r}
if MARKER:
    pathlib.Path(MARKER).write_text("imported")


class Probe(BaseAlgorithm):
    def __init__(self):
        self.frames = 0
        self.sent = 0
        self.announce = True

    def configure(self, context):
        parameters = context.parameters
        if parameters.get("fail") == "configure":
            raise RuntimeError("configure fails on purpose")
        time.sleep(parameters.get("configure_sleep_s", 0))
        self.context = context
        self.parameters = dict(parameters)
        self.topic = f"{{context.topics.prefix}}test/{{context.meter_id}}/{{context.name}}"
        listen = tuple(Subscription(f) for f in parameters.get("listen", []))
        self.announce = True
        return Declaration(
            inputs=frozenset({{FRAMES, MESSAGES}}),
            outputs=(Output(self.topic, broker="grid", kind=EVENT),),
            subscriptions=listen,
        )

    def on_frames(self, frames):
        self.frames += len(frames)
        if self.announce:
            self.announce = False
            self.context.publish(self.topic, {{
                "configured": self.parameters,
                "version": self.context.version,
                "topology": self.context.topology,
            }})
        fail = self.parameters.get("fail")
        late = self.frames > self.parameters.get("after", 10)
        if fail == "raise" and late:
            raise RuntimeError("on_frames fails on purpose")
        if fail == "hang" and late:
            time.sleep(3600)
        if fail == "overrun" and late:
            time.sleep(self.parameters.get("overrun_s", 1.0))
        if fail == "undeclared":
            self.context.publish(self.topic + "/elsewhere", {{}})
        burst = self.parameters.get("burst", 0)
        for _ in range(self.parameters.get("per_frame", 0)):
            if self.sent < burst:
                self.context.publish(self.topic, {{"n": self.sent}})
                self.sent += 1

    def on_message(self, message):
        self.context.publish(self.topic, {{"echo": message.envelope.body, "topic": message.topic}})


def create():
    return Probe()
"""

LATER = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=30)


def probe(
    key: Ed25519PrivateKey,
    name: str = "probe",
    version: str = "1.0.0",
    *,
    marker: Path | None = None,
    source: str | None = None,
    expires: datetime.datetime = LATER,
    api_version: int = packages.API_VERSION,
    extra: dict[str, bytes] | None = None,
) -> bytes:
    """The probe (or another `source`) as a signed package ``name`` ``version``."""
    code = source if source is not None else SOURCE.format(marker=str(marker) if marker else "")
    return packages.build(
        name=name,
        version=version,
        entry_point="algo:create",
        files={"algo.py": code.encode(), **(extra or {})},
        expires=expires,
        private_key=key,
        api_version=api_version,
    )
