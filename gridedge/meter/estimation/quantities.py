"""Measured and derived quantities in the estimator kernel's terms: codes, nodes and units.

A quantity is named as in pandapower's measurement table (and
:class:`gridedge.grid.Measurement`): a type (``v``, ``va``, ``p``, ``q``, ``i``, ``ia``), an
element (a bus, line or transformer id) and, for a branch, the side (the end bus) it is taken
at. Units: ``v`` p.u. of the bus's nominal voltage, ``va`` and ``ia`` degrees, ``p`` kW,
``q`` kvar, ``i`` A. Powers at a bus are injected into the grid (generation positive, a load
negative); on a branch they flow from the side bus into the branch, and so does the current.
"""

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from gridedge.errors import InvalidInputError
from gridedge.grid import Measurement
from gridedge.grid import network as nw
from gridedge.grid.model import MEASURED_QUANTITIES

V_MAGNITUDE, V_ANGLE, P_INJECTION, Q_INJECTION, P_FLOW, Q_FLOW, I_MAGNITUDE, I_ANGLE = range(8)
"""Kernel codes of the measurement functions (:mod:`gridedge._native.wls`)."""

_AT_BUS = {"v": V_MAGNITUDE, "va": V_ANGLE, "p": P_INJECTION, "q": Q_INJECTION}
_AT_BRANCH = {"p": P_FLOW, "q": Q_FLOW, "i": I_MAGNITUDE, "ia": I_ANGLE}

ANGLES = frozenset({"va", "ia"})
"""Quantities in degrees (their residuals wrap around)."""


@dataclass(frozen=True)
class Quantity:
    """A quantity to derive from the estimate, named like a :class:`~gridedge.grid.Measurement`.

    Attributes
    ----------
    quantity : str
        ``v``, ``va``, ``p``, ``q``, ``i`` or ``ia`` (units in the module docstring).
    element : str
        Bus, line or transformer id.
    side : str, optional
        For a branch: the end bus.
    """

    quantity: str
    element: str
    side: str | None = None

    @property
    def label(self) -> str:
        """Readable name, for example ``"p TS01@SS01"``."""
        at = f"@{self.side}" if self.side is not None else ""
        return f"{self.quantity} {self.element}{at}"


@dataclass(frozen=True)
class Encoded:
    """Quantities as the kernel takes them.

    Attributes
    ----------
    kind, node, branch, end : ndarray of int64, shape (m,)
        Kernel code, node (of the bus or the measured branch end), modelled branch (-1 at a
        bus) and end (0 from / high-voltage, 1 to / low-voltage).
    to_pu : ndarray of float64, shape (m,)
        Factor from the quantity's unit to the kernel's (p.u., rad).
    angle : ndarray of bool, shape (m,)
        Whether the quantity is an angle.
    """

    kind: NDArray[np.int64]
    node: NDArray[np.int64]
    branch: NDArray[np.int64]
    end: NDArray[np.int64]
    to_pu: NDArray[np.float64]
    angle: NDArray[np.bool_]


def encode(net: nw.Network, items: Sequence[Measurement | Quantity], what: str) -> Encoded:
    """Translate measurements or derived quantities of `net`'s grid for the kernel.

    Parameters
    ----------
    net : Network
    items : sequence of Measurement or Quantity
    what : str
        What the items are, for error messages (``"measurement"``, ``"derived quantity"``).

    Returns
    -------
    Encoded
        One row per item, in order.

    Raises
    ------
    InvalidInputError
        Naming every item whose quantity, element or side is unknown, inapplicable or
        de-energised.
    """
    grid = net.grid
    model_of_branch = np.full(len(grid.branches), -1, dtype=np.intp)
    model_of_branch[net.branch_index] = np.arange(net.branch_index.shape[0])
    branch_position = {branch_id: i for i, branch_id in enumerate(grid.branch_ids)}
    bus_position = {bus_id: i for i, bus_id in enumerate(grid.bus_ids)}
    rows: list[tuple[int, int, int, int, float]] = []
    problems: list[str] = []
    for item in items:
        name = f"{what} {item.id!r}" if isinstance(item, Measurement) else f"{what} {item.label!r}"
        try:
            rows.append(_encode_one(net, item, model_of_branch, branch_position, bus_position))
        except InvalidInputError as exc:
            problems.append(f"{name}: {exc}")
    if problems:
        shown = "\n  ".join(problems[:20])
        more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
        raise InvalidInputError(f"invalid {what}s:\n  {shown}{more}")
    table = np.array(rows, dtype=np.float64).reshape(-1, 5)
    return Encoded(
        kind=table[:, 0].astype(np.int64),
        node=table[:, 1].astype(np.int64),
        branch=table[:, 2].astype(np.int64),
        end=table[:, 3].astype(np.int64),
        to_pu=table[:, 4].copy(),
        angle=np.array([item.quantity in ANGLES for item in items], dtype=bool),
    )


def _encode_one(
    net: nw.Network,
    item: Measurement | Quantity,
    model_of_branch: NDArray[np.intp],
    branch_position: dict[str, int],
    bus_position: dict[str, int],
) -> tuple[int, int, int, int, float]:
    quantity, element = item.quantity, item.element
    if quantity not in MEASURED_QUANTITIES:
        raise InvalidInputError(f"unknown quantity {quantity!r} (v, va, p, q, i, ia)")
    power_to_pu = 1.0 / (1e3 * nw.S_BASE_MVA)
    if element in bus_position:
        if quantity not in _AT_BUS:
            raise InvalidInputError(f"{quantity!r} is measured on a branch, not at bus {element!r}")
        if item.side is not None:
            raise InvalidInputError("side is only for branch quantities")
        node = int(net.node_of_bus[bus_position[element]])
        if node < 0:
            raise InvalidInputError(f"bus {element!r} is de-energised")
        to_pu = {"v": 1.0, "va": math.pi / 180}.get(quantity, power_to_pu)
        return _AT_BUS[quantity], node, -1, 0, to_pu
    if element not in branch_position:
        raise InvalidInputError(f"element {element!r} is no bus, line or transformer of the grid")
    if quantity not in _AT_BRANCH:
        raise InvalidInputError(f"{quantity!r} is measured at a bus, not on branch {element!r}")
    branch = net.grid.branch(element)
    if item.side not in branch.buses:
        raise InvalidInputError(
            f"side must be an end bus of {element!r} ({branch.buses[0]!r} or "
            f"{branch.buses[1]!r}), got {item.side!r}"
        )
    end = branch.buses.index(item.side)
    model = int(model_of_branch[branch_position[element]])
    node = -1 if model < 0 else int((net.from_node, net.to_node)[end][model])
    if node < 0:
        raise InvalidInputError(f"the {item.side!r} end of {element!r} is open or de-energised")
    if quantity == "i":
        to_pu = 1.0 / float(net.current_base_a(np.array([node]))[0])
    elif quantity == "ia":
        to_pu = math.pi / 180
    else:
        to_pu = power_to_pu
    return _AT_BRANCH[quantity], node, model, end, to_pu


def zero_injection_buses(
    net: nw.Network,
    measurements: Iterable[Measurement],
    mode: str | Iterable[str] | None,
) -> list[str]:
    """Buses to give virtual zero-injection measurements, one per electrical node.

    Parameters
    ----------
    net : Network
        The network of the grid estimated.
    measurements : iterable of Measurement
        The measurements given (a measured ``p`` or ``q`` at a bus is no zero injection).
    mode : "auto", iterable of bus ids, or None
        ``"auto"``: every energised node without a load, a source or a measured injection
        (``p`` or ``q`` at one of its buses). An iterable names the buses. None: none.

    Raises
    ------
    InvalidInputError
        Unknown or de-energised buses named, or a mode that is neither.
    """
    grid = net.grid
    if mode is None:
        return []
    if isinstance(mode, str):
        if mode != "auto":
            raise InvalidInputError(
                f"zero_injection must be 'auto', an iterable of bus ids or None, got {mode!r}"
            )
        position = {bus_id: i for i, bus_id in enumerate(grid.bus_ids)}
        busy = {int(net.node_of_bus[position[load.bus]]) for load in grid.loads}
        busy |= {int(node) for node in net.source_node}
        busy |= {
            int(net.node_of_bus[position[m.element]])
            for m in measurements
            if m.quantity in ("p", "q") and m.element in position
        }
        chosen: dict[int, str] = {}
        for i, bus_id in enumerate(grid.bus_ids):
            node = int(net.node_of_bus[i])
            if node >= 0 and node not in busy:
                chosen.setdefault(node, bus_id)
        return list(chosen.values())
    buses = list(mode)
    for bus_id in buses:
        net.node(bus_id)
    return buses
