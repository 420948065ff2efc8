"""Fault detection, classification and impedance-based location on a feeder-head meter.

- :class:`FaultDetector` watches a stream of :class:`gridedge.meter.phasor.Frames` and
  delivers a :class:`FaultEvent` (kind, pre-fault and during-fault phasors) per fault;
- :func:`classify` tells the fault kind from two phasor sets;
- :mod:`gridedge.meter.faults.interval` fits the head's phasors over a fault's whole stable
  intervals from its samples (:class:`IntervalPhasors`), and the downstream meters'
  magnitudes over the same intervals (:class:`VoltageReport`);
- :class:`FeederModel` prepares a feeder once per topology, and :func:`locate` finds the
  faulted bus pair, the distance and the fault resistance, with every candidate and an
  ambiguity flag.
"""

from gridedge.meter.faults.classification import ClassificationSettings, classify
from gridedge.meter.faults.detection import DetectionSettings, FaultDetector, FaultEvent
from gridedge.meter.faults.feeder import FeederModel, LocationSettings, Section
from gridedge.meter.faults.interval import IntervalPhasors, IntervalSettings, VoltageReport
from gridedge.meter.faults.location import Candidate, FaultLocation, locate

__all__ = [
    "Candidate",
    "ClassificationSettings",
    "DetectionSettings",
    "FaultDetector",
    "FaultEvent",
    "FaultLocation",
    "FeederModel",
    "IntervalPhasors",
    "IntervalSettings",
    "LocationSettings",
    "Section",
    "VoltageReport",
    "classify",
    "locate",
]
