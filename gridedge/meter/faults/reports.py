"""The downstream meters' voltage reports of a fault, and the messages that carry them.

The exchange (the FLISR step "collect the sparse voltage measurements of downstream meters"):

1. The feeder-head meter detects a fault, fits its stable intervals from its own samples and
   publishes ``{"state": "detected", ..., "intervals": {...}}`` on ``faults/{feeder}``
   (:func:`intervals_body`).
2. Every meter that runs ``fault-reporter`` (and the simulator service, for the meters it
   simulates) keeps the last seconds of its voltage samples
   (:class:`VoltageReporter`); once it holds the head's whole fault interval it fits its
   phase-voltage magnitudes over the head's intervals
   (:func:`gridedge.meter.faults.interval.voltage_report`) and publishes them on
   ``meters/{id}/fault-voltages`` (:func:`report_body`).
3. The head locates with the reports of the meters of its topology portion that came in
   within its collection time (:func:`report_from_body`); others are ignored.

Both ends fit over the same intervals of the same time base (the meters' clocks are
synchronised), so a report is the downstream meter's share of the accuracy campaign's chain
(:mod:`gridedge.meter.faults.accuracy`), not a few decimated frames.
"""

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from gridedge.errors import InvalidInputError
from gridedge.meter.faults.interval import FaultIntervals, VoltageReport, voltage_report
from gridedge.meter.history import SampleHistory

logger = logging.getLogger(__name__)

KEEP_S = 3.0
"""Seconds of voltage samples a reporter keeps: the 0.5 s pre-fault interval, a fault of up
to about 1.5 s, and the time the head takes to detect, fit and ask."""

MAX_PENDING = 16
"""Requests a reporter keeps waiting for samples; older ones are dropped first."""


@dataclass(frozen=True)
class ReportRequest:
    """A head meter's request for the voltages over its fault's intervals.

    Attributes
    ----------
    head : str
        The head meter (the sender of the ``detected`` message).
    inception_time : float
        The fault's ``inception_time``, which the report echoes.
    intervals : FaultIntervals
    """

    head: str
    inception_time: float
    intervals: FaultIntervals


def intervals_body(intervals: FaultIntervals) -> dict[str, Any]:
    """The ``intervals`` member of a ``detected`` message."""
    return {
        "time": intervals.time,
        "frequency_hz": intervals.frequency_hz,
        "prefault": list(intervals.prefault_interval),
        "fault": list(intervals.fault_interval),
    }


def request_from_body(head: str, body: Mapping[str, Any]) -> ReportRequest | None:
    """The request a ``faults/{feeder}`` message makes; None when it asks for nothing.

    Raises
    ------
    InvalidInputError
        A ``detected`` message whose intervals are malformed.
    """
    if body.get("state") != "detected" or body.get("intervals") is None:
        return None
    try:
        found = body["intervals"]
        prefault = _interval(found["prefault"])
        fault = _interval(found["fault"])
        request = ReportRequest(
            head,
            _finite(body["inception_time"]),
            FaultIntervals(_finite(found["time"]), _finite(found["frequency_hz"]), prefault, fault),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInputError(f"intervals of {head}'s fault are malformed: {exc!r}") from None
    if not prefault[1] < fault[0]:
        raise InvalidInputError(f"{head}'s pre-fault interval {prefault} is not before {fault}")
    return request


def report_body(request: ReportRequest, report: VoltageReport | str) -> dict[str, Any]:
    """The body of a ``fault-voltages`` message: the report, or why there is none."""
    base = {"head": request.head, "inception_time": request.inception_time}
    if isinstance(report, str):
        return {**base, "error": report}
    return {
        **base,
        "voltages": [float(v) for v in report.voltages],
        "sigma": [float(s) for s in report.sigma],
        "prefault_voltage": report.prefault_voltage,
    }


def report_from_body(body: Mapping[str, Any]) -> tuple[str, float, VoltageReport | str]:
    """``(head, inception_time, report)`` of a ``fault-voltages`` body; an error's text.

    Raises
    ------
    InvalidInputError
        The body is malformed, or its voltages are not finite or their sigmas not > 0.
    """
    try:
        head, inception = str(body["head"]), _finite(body["inception_time"])
        if "error" in body:
            return head, inception, str(body["error"])
        voltages = np.array(body["voltages"], dtype=np.float64)
        sigma = np.array(body["sigma"], dtype=np.float64)
        prefault = _finite(body["prefault_voltage"])
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInputError(f"voltage report is malformed: {exc!r}") from None
    if voltages.shape != (3,) or sigma.shape != (3,):
        raise InvalidInputError("a voltage report holds three voltages and three sigmas")
    if not (np.all(np.isfinite(voltages)) and np.all(sigma > 0) and np.all(np.isfinite(sigma))):
        raise InvalidInputError(f"voltage report {voltages} +- {sigma} is not usable")
    return head, inception, VoltageReport(voltages, sigma, prefault)


class VoltageReporter:
    """A downstream meter's side: its voltage samples, and requests waiting for them.

    Parameters
    ----------
    fs : float
        Sampling rate, Hz.
    start_time : float
        Time of sample index 0, s.
    f0 : float
        Nominal frequency, Hz.
    keep_s : float
        Seconds of samples kept.
    """

    def __init__(self, fs: float, start_time: float, f0: float, keep_s: float = KEEP_S) -> None:
        self.history = SampleHistory(fs, start_time, 3, keep_s)
        self.f0 = f0
        self._pending: list[ReportRequest] = []

    def add(self, first_index: int, voltages: NDArray[np.float64]) -> None:
        """Keep phase voltages Va, Vb, Vc (primary V, shape (n, 3)) from `first_index` on."""
        self.history.add(first_index, voltages)

    def request(self, request: ReportRequest) -> None:
        """Queue a request; it is answered once the samples cover its fault interval."""
        self._pending.append(request)
        if len(self._pending) > MAX_PENDING:
            dropped = self._pending.pop(0)
            logger.warning("dropped %s's request of %.3f", dropped.head, dropped.inception_time)

    def ready(self) -> list[tuple[ReportRequest, VoltageReport | str]]:
        """Answer the requests the samples now cover: a report, or why there is none."""
        answered, waiting = [], []
        for request in self._pending:
            if self.history.covers(request.intervals.fault_interval[1]):
                answered.append((request, self._answer(request)))
            else:
                waiting.append(request)
        self._pending = waiting
        return answered

    def _answer(self, request: ReportRequest) -> VoltageReport | str:
        intervals = request.intervals
        try:
            start, rows = self.history.window(
                intervals.prefault_interval[0], intervals.fault_interval[1]
            )
            return voltage_report(rows, start, self.history.fs, None, intervals, f0=self.f0)
        except InvalidInputError as exc:
            return str(exc)


def _interval(value: Any) -> tuple[float, float]:
    begin, end = (_finite(v) for v in value)
    if not begin < end:
        raise ValueError(f"interval {value!r} does not run forward")
    return begin, end


def _finite(value: Any) -> float:
    if isinstance(value, bool):
        raise TypeError(f"{value!r} is not a number")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{value!r} is not finite")
    return number
