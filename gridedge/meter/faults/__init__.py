"""Fault detection, classification and impedance-based location on a feeder-head meter.

- :class:`FaultDetector` watches a stream of :class:`gridedge.meter.phasor.Frames` and
  delivers a :class:`FaultEvent` (kind, pre-fault and during-fault phasors) per fault;
- :func:`classify` tells the fault kind from two phasor sets;
- :mod:`gridedge.meter.faults.interval` fits the head's phasors over a fault's whole stable
  intervals from its samples (:class:`IntervalPhasors`), and the downstream meters'
  magnitudes over the same intervals (:class:`VoltageReport`), which
  :mod:`gridedge.meter.faults.reports` carries between the meters;
- :class:`FeederModel` prepares a feeder once per topology, and :func:`locate` finds the
  faulted bus pair, the distance and the fault resistance, with every candidate and an
  ambiguity flag (:func:`locate_reported` from an interval fit and its reports).
"""

from gridedge import lazy

# Names are imported on first use (gridedge.lazy): detection alone does not load the feeder model
# and its solvers (scipy), which a meter needs only once a fault is to be located.
_EXPORTS = {
    "Candidate": "location",
    "ClassificationSettings": "classification",
    "DetectionSettings": "detection",
    "FaultDetector": "detection",
    "FaultEvent": "detection",
    "FaultLocation": "location",
    "FeederModel": "feeder",
    "IntervalPhasors": "interval",
    "IntervalSettings": "interval",
    "LocationSettings": "feeder",
    "Section": "feeder",
    "VoltageReport": "interval",
    "classify": "classification",
    "locate": "location",
    "locate_reported": "location",
}

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
    "locate_reported",
]


__getattr__, __dir__ = lazy.exports(__name__, _EXPORTS, globals())
