"""Built-in algorithm ``fault-reporter``: a downstream meter's voltages over a fault's intervals.

The meter keeps the last seconds of its phase voltages. When a feeder head (a meter running
``fault-detector``) publishes a detected fault with its stable intervals on
``faults/{feeder}``, it fits its own phase-voltage magnitudes over those
intervals once its samples cover them, and publishes them on ``meters/{id}/fault-voltages``
(grid broker) for the head to locate with (:mod:`gridedge.meter.faults.reports`). The noise
of its samples, which weights the report, comes from the samples themselves.

A meter's topology portion is the region downstream of its feeder head, which does not hold
the head itself: by default the meter answers every head, and each head takes the reports
of the meters of its own portion only. A fault is rare and a report one fit of a second of
samples, so answering the heads of other feeders costs little; ``heads`` narrows it.

Parameters
----------
``keep_s`` (float, default 3.0)
    Seconds of voltage samples kept.
``heads`` (list of str, default all)
    The meters whose faults this one reports.

Messages: ``{"head", "inception_time", "voltages": [Va, Vb, Vc], "sigma": [...],
"prefault_voltage"}`` (V RMS), or ``{"head", "inception_time", "error"}`` when its samples
cannot answer (they no longer or do not yet hold the intervals, or a gap cuts them).
"""

from typing import Any

from gridedge.errors import ConfigurationError, InvalidInputError
from gridedge.meter.faults.reports import (
    KEEP_S,
    VoltageReporter,
    report_body,
    request_from_body,
)
from gridedge.meter.plugin import (
    EVENT,
    MESSAGES,
    SAMPLES,
    BaseAlgorithm,
    Context,
    Declaration,
    Message,
    Output,
    SampleBlock,
    Subscription,
    number_parameter,
)
from gridedge.mqtt import Deduplicator


class FaultReporter(BaseAlgorithm):
    """Answer the feeder heads' requests with this meter's voltages."""

    def __init__(self) -> None:
        self._reporter: VoltageReporter | None = None
        self._key: tuple[float, ...] = ()
        self._heads: frozenset[str] | None = None
        self._scaling: Any = None
        self._topic = ""
        self._publish: Any = None
        self._logger: Any = None
        self._dedup = Deduplicator()

    def configure(self, context: Context) -> Declaration:
        """Size the history; answer the meters of the topology portion."""
        keep = number_parameter(context.parameters, "keep_s", KEEP_S, minimum=1.0)
        measurement = context.measurement
        key = (measurement.fs, measurement.start_time, measurement.f0, keep)
        if key != self._key:
            self._key = key
            self._reporter = VoltageReporter(*key)
        heads = context.parameters.get("heads")
        if heads is not None and (
            not isinstance(heads, list) or not all(isinstance(h, str) for h in heads)
        ):
            raise ConfigurationError(f"heads must be a list of meter ids, got {heads!r}")
        self._heads = None if heads is None else frozenset(heads)
        self._scaling = measurement.scaling
        self._topic = context.topics.fault_voltages(context.meter_id)
        self._publish = context.publish
        self._logger = context.logger
        return Declaration(
            inputs=frozenset({SAMPLES, MESSAGES}),
            outputs=(Output(self._topic, broker="grid", kind=EVENT),),
            subscriptions=(Subscription(context.topics.faults("+"), broker="grid"),),
        )

    def on_samples(self, block: SampleBlock) -> None:
        """Keep the phase voltages; answer the requests they now cover."""
        assert self._reporter is not None
        self._reporter.add(block.first_index, self._scaling.to_primary(block.samples)[:, :3])
        self._answer()

    def on_message(self, message: Message) -> None:
        """Queue a head's request (copies and retained messages dropped)."""
        assert self._reporter is not None
        envelope = message.envelope
        if (
            message.retained
            or (self._heads is not None and envelope.sender not in self._heads)
            or self._dedup.is_duplicate(envelope)
        ):
            return
        try:
            request = request_from_body(envelope.sender, envelope.body)
        except InvalidInputError as exc:
            self._logger.warning("request of %s dropped: %s", envelope.sender, exc)
            return
        if request is not None:
            self._reporter.request(request)
            self._answer()

    def _answer(self) -> None:
        assert self._reporter is not None
        for request, report in self._reporter.ready():
            self._publish(self._topic, report_body(request, report))


def create() -> FaultReporter:
    """Entry point of the package."""
    return FaultReporter()
