"""The restoration plan: ordered switching steps and the state they are expected to leave.

Every class converts to plain JSON-ready dictionaries (:meth:`RestorationPlan.to_dict`), the
form the reconfiguration service publishes.
"""

import json
import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

from gridedge.services.reconfiguration.isolation import FaultedSection

Action = Literal["open", "close"]
Purpose = Literal["isolate", "sectionalise", "restore"]
Reason = Literal["faulted section", "no tie", "limits"]

SHOWN_BUSES = 6
"""Buses named per group in :meth:`RestorationPlan.describe`."""


@dataclass(frozen=True)
class SwitchingStep:
    """One switch operation.

    Attributes
    ----------
    switch : str
        Switch id.
    action : {"open", "close"}
    purpose : {"isolate", "sectionalise", "restore"}
        Isolating the fault, splitting the outage, or closing a tie.
    detail : str
        What the step does, in words.
    """

    switch: str
    action: Action
    purpose: Purpose
    detail: str


@dataclass(frozen=True)
class ExpectedState:
    """The grid after the plan, from its power flow.

    Attributes
    ----------
    interrupted_kw : float
        Load the fault left without supply (before restoration), kW.
    restored_kw, unserved_kw : float
        Of that, the load the plan restores and the load that stays off, kW.
    min_voltage_pu, max_voltage_pu : float
        Extreme bus voltages over every energised bus, p.u.
    min_voltage_bus, max_voltage_bus : str
    max_loading : float or None
        Largest line or transformer loading (current over rating) as a fraction; None when no
        energised element has a rating.
    max_loading_branch : str or None
    losses_kw : float
        Active losses of the whole grid, kW.
    """

    interrupted_kw: float
    restored_kw: float
    unserved_kw: float
    min_voltage_pu: float
    min_voltage_bus: str
    max_voltage_pu: float
    max_voltage_bus: str
    max_loading: float | None
    max_loading_branch: str | None
    losses_kw: float


@dataclass(frozen=True)
class Unserved:
    """Buses that stay without supply, and why.

    Attributes
    ----------
    reason : {"faulted section", "no tie", "limits"}
        Inside the isolated zone; no tie reaches them; or restoring them would break the
        limits (or the switching budget).
    buses : tuple of str
    load_kw : float
    """

    reason: Reason
    buses: tuple[str, ...]
    load_kw: float


@dataclass(frozen=True)
class RestorationPlan:
    """Isolation and restoration of one fault.

    Attributes
    ----------
    grid : str
        Grid name.
    fault : FaultedSection
    isolating_switches : tuple of str
        Switches that isolate the fault (source side first).
    steps : tuple of SwitchingStep
        In the order to carry them out: isolating switches open, then sectionalising
        switches open, then ties close, each tie onto a live part and a dead one - so no
        step ever parallels two sources or closes a loop.
    switch_states : dict of str to bool
        Every switch's state after the plan (True = closed).
    restored_buses : tuple of str
        Buses the plan re-energises.
    unserved : tuple of Unserved
    state : ExpectedState
    notes : tuple of str
        Manual switches met, the restoration the limits prevented, and the like.
    power_flows : int
        Configurations the search checked by power flow.
    """

    grid: str
    fault: FaultedSection
    isolating_switches: tuple[str, ...]
    steps: tuple[SwitchingStep, ...]
    switch_states: dict[str, bool]
    restored_buses: tuple[str, ...]
    unserved: tuple[Unserved, ...]
    state: ExpectedState
    notes: tuple[str, ...]
    power_flows: int

    def to_dict(self) -> dict[str, Any]:
        """Return the plan as JSON-ready built-in types."""
        return asdict(self)

    def to_json(self, **kwargs: Any) -> str:
        """Return the plan as a JSON document (`kwargs` go to :func:`json.dumps`)."""
        return json.dumps(self.to_dict(), allow_nan=False, **kwargs)

    def describe(self) -> str:
        """Return the plan as text for an operator."""
        fault = self.fault
        where = f"line {fault.line}"
        if fault.distance_m is not None:
            where += f", {fault.distance_m:.0f} m from {fault.from_bus}"
        if fault.across:
            where += f" (or across it on {', '.join(fault.across)}: all isolated)"
        state = self.state
        lines = [f"Fault on {where} (grid {self.grid})", "", "Switching plan:"]
        if not self.steps:
            lines.append("  (no operation)")
        for number, step in enumerate(self.steps, start=1):
            lines.append(f"  {number}. {step.action:<5} {step.switch:<14} {step.detail}")
        lines += [
            "",
            "Expected state:",
            f"  interrupted {state.interrupted_kw:9.1f} kW",
            f"  restored    {state.restored_kw:9.1f} kW",
            f"  unserved    {state.unserved_kw:9.1f} kW",
            f"  voltage     {state.min_voltage_pu:.4f} p.u. (bus {state.min_voltage_bus}) "
            f"to {state.max_voltage_pu:.4f} p.u. (bus {state.max_voltage_bus})",
        ]
        if state.max_loading is not None:
            lines.append(
                f"  loading     {100 * state.max_loading:.1f} % (branch {state.max_loading_branch})"
            )
        lines.append(f"  losses      {state.losses_kw:9.1f} kW")
        for group in self.unserved:
            shown = ", ".join(group.buses[:SHOWN_BUSES])
            more = len(group.buses) - SHOWN_BUSES
            tail = f" and {more} more" if more > 0 else ""
            lines.append(
                f"  unserved ({group.reason}): {group.load_kw:.1f} kW at {len(group.buses)} "
                f"bus(es): {shown}{tail}"
            )
        lines += [f"Note: {note}" for note in self.notes]
        lines.append(f"({self.power_flows} configuration(s) checked by power flow)")
        return "\n".join(lines)


def finite_or_none(value: float) -> float | None:
    """`value`, or None when it is not a finite number (JSON has no nan)."""
    return value if math.isfinite(value) else None
