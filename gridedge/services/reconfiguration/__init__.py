"""Restoration of supply after a fault: isolating switches, tie closures, an ordered plan.

Given a grid, the switch states before the fault and the faulted section (a line id, or the
bus pair and distance a fault locator reports), :func:`plan_restoration` returns a
:class:`RestorationPlan`:

1. *Isolation*: the nearest remotely controllable switches on every side of the faulted line
   (switches a crew must operate are passed over and named in the plan's notes).
2. *Restoration*: the tie closures - and, where no tie can carry a whole outage, the openings
   of sectionalising switches inside it - that restore the most load while every energised
   part stays a tree with one source, every bus voltage stays within the band and every
   rated line and transformer within its current; among equals, fewer switching operations,
   then lower losses. Each candidate is checked by a power flow.
3. *The plan*: open the isolating switches, open the sectionalising switches, close the ties
   one by one onto a live part, so that no step parallels two sources; with the state the
   plan is expected to leave (restored and unserved load, voltages, loading, losses).

:class:`Restorer` prepares a grid once for many faults. Results convert to JSON
(:meth:`RestorationPlan.to_dict`, :meth:`RestorationPlan.to_json`).
"""

from gridedge.services.reconfiguration.flow import Violation
from gridedge.services.reconfiguration.isolation import Fault, FaultedSection
from gridedge.services.reconfiguration.plan import (
    ExpectedState,
    RestorationPlan,
    SwitchingStep,
    Unserved,
)
from gridedge.services.reconfiguration.planner import Restorer, plan_restoration
from gridedge.services.reconfiguration.settings import Limits, load_limits

__all__ = [
    "ExpectedState",
    "Fault",
    "FaultedSection",
    "Limits",
    "RestorationPlan",
    "Restorer",
    "SwitchingStep",
    "Unserved",
    "Violation",
    "load_limits",
    "plan_restoration",
]
