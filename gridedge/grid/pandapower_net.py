"""Import a pandapower network (pandapower is an optional dependency, imported lazily).

The bus index becomes the bus id as a string; lines become ``"line<index>"``,
transformers ``"trafo<index>"``, switches ``"switch<index>"``, loads ``"load<index>"``
(static generators ``"sgen<index>"``, as negative loads), external grids ``"ext_grid<index>"``
and measurements ``"measurement<index>"`` (bus powers turned from consumption into
injections). Out-of-service elements are left out.

Data pandapower lacks are filled with documented defaults:

- line zero sequence (``r0_ohm_per_km`` ...): R0 = X0-ratio x R1 with
  :data:`ZERO_SEQUENCE_RATIO` (likewise X0), and C0 = C1 (exact for screened single-core
  cables, whose field is radial);
- transformer vector group: ``"Dyn"`` with the clock number ``shift_degree / 30``;
- external grid short-circuit power: :data:`DEFAULT_SK_MVA`, R/X 0.1, X0/X1 1, R0/X0 0.1.
"""

import json
import math
from typing import Any

from gridedge.errors import BackendUnavailableError, InvalidInputError
from gridedge.grid.model import (
    Bus,
    Grid,
    Line,
    Load,
    Measurement,
    Source,
    Switch,
    Transformer,
)

ZERO_SEQUENCE_RATIO = 3.0
"""R0/R1 and X0/X1 of lines without zero-sequence data (a common rule of thumb for lines
whose zero-sequence data are unknown; an assumption, not a measured property)."""

DEFAULT_SK_MVA = 1000.0
"""Short-circuit power of an external grid that gives none, MVA."""

_MEASUREMENT_SCALE = {"v": 1.0, "va": 1.0, "p": 1e3, "q": 1e3, "i": 1e3, "ia": 1.0}
"""pandapower units (p.u., degrees, MW, Mvar, kA) to ours (p.u., degrees, kW, kvar, A)."""


def from_pandapower(net: Any, name: str | None = None) -> Grid:
    """Convert a pandapower network to a :class:`Grid`.

    Parameters
    ----------
    net : pandapowerNet
        A network as built by pandapower (for example ``pandapower.networks.case33bw()``).
    name : str, optional
        Name of the grid; ``net.name`` (or ``"pandapower"``) by default.

    Returns
    -------
    Grid

    Raises
    ------
    BackendUnavailableError
        pandapower is not installed.
    InvalidInputError
        An element pandapower allows that this model cannot hold (for example a
        three-winding transformer), or data that fail validation.
    """
    try:
        import pandapower  # noqa: F401
    except ImportError as exc:
        raise BackendUnavailableError(
            "from_pandapower needs pandapower: pip install 'gridedge[pandapower]'"
        ) from exc
    if len(getattr(net, "trafo3w", [])):
        raise InvalidInputError("three-winding transformers (net.trafo3w) are not supported")
    buses = {int(i): row for i, row in net.bus.iterrows() if bool(row.get("in_service", True))}
    grid_name = name or str(getattr(net, "name", "") or "pandapower")
    return Grid(
        name=grid_name,
        buses=tuple(_bus(i, row) for i, row in buses.items()),
        lines=tuple(_lines(net, buses)),
        transformers=tuple(_transformers(net, buses)),
        switches=tuple(_switches(net, buses)),
        loads=tuple(_loads(net, buses)),
        sources=tuple(_sources(net, buses)),
        measurements=tuple(_measurements(net, buses)),
        frequency_hz=float(getattr(net, "f_hz", 50.0)),
    )


def _value(row: Any, column: str, default: float) -> float:
    value = row.get(column, default)
    try:
        number = float(value)
    except (TypeError, ValueError):
        return default
    return default if math.isnan(number) else number


def _active(row: Any, buses: dict[int, Any], *columns: str) -> bool:
    return bool(row.get("in_service", True)) and all(int(row[c]) in buses for c in columns)


def _bus(index: int, row: Any) -> Bus:
    xy = None
    geo = row.get("geo")
    if isinstance(geo, str) and geo:
        coordinates = json.loads(geo).get("coordinates")
        if isinstance(coordinates, list) and len(coordinates) == 2:
            xy = (float(coordinates[0]), float(coordinates[1]))
    label = row.get("name")
    return Bus(str(index), float(row["vn_kv"]), xy=xy, name="" if label is None else str(label))


def _lines(net: Any, buses: dict[int, Any]) -> list[Line]:
    lines = []
    for index, row in net.line.iterrows():
        if not _active(row, buses, "from_bus", "to_bus"):
            continue
        parallel = _value(row, "parallel", 1.0)
        r1, x1 = float(row["r_ohm_per_km"]), float(row["x_ohm_per_km"])
        c1 = float(row["c_nf_per_km"])
        ampacity = _value(row, "max_i_ka", math.nan) * 1e3 * _value(row, "df", 1.0) * parallel
        lines.append(
            Line(
                id=f"line{index}",
                from_bus=str(int(row["from_bus"])),
                to_bus=str(int(row["to_bus"])),
                length_km=float(row["length_km"]),
                r1_ohm_per_km=r1 / parallel,
                x1_ohm_per_km=x1 / parallel,
                c1_nf_per_km=c1 * parallel,
                r0_ohm_per_km=_value(row, "r0_ohm_per_km", ZERO_SEQUENCE_RATIO * r1) / parallel,
                x0_ohm_per_km=_value(row, "x0_ohm_per_km", ZERO_SEQUENCE_RATIO * x1) / parallel,
                c0_nf_per_km=_value(row, "c0_nf_per_km", c1) * parallel,
                ampacity_a=None if math.isnan(ampacity) else ampacity,
                name=str(row.get("name") or ""),
            )
        )
    return lines


def _transformers(net: Any, buses: dict[int, Any]) -> list[Transformer]:
    transformers = []
    for index, row in net.trafo.iterrows():
        if not _active(row, buses, "hv_bus", "lv_bus"):
            continue
        if _value(row, "parallel", 1.0) != 1.0 or _value(row, "tap_pos", 0.0) != _value(
            row, "tap_neutral", 0.0
        ):
            raise InvalidInputError(
                f"trafo {index}: parallel units and off-neutral taps are not supported"
            )
        clock = round(_value(row, "shift_degree", 0.0) / 30) % 12
        group = row.get("vector_group")
        if not isinstance(group, str) or not group:
            group = f"Dyn{clock}" if clock % 2 else f"YNyn{clock}"
        elif not group[-1].isdigit():
            group = f"{group}{clock}"
        transformers.append(
            Transformer(
                id=f"trafo{index}",
                hv_bus=str(int(row["hv_bus"])),
                lv_bus=str(int(row["lv_bus"])),
                sn_mva=float(row["sn_mva"]),
                hv_kv=float(row["vn_hv_kv"]),
                lv_kv=float(row["vn_lv_kv"]),
                uk_percent=float(row["vk_percent"]),
                ukr_percent=float(row["vkr_percent"]),
                vector_group=group,
                uk0_percent=_value(row, "vk0_percent", float(row["vk_percent"])),
                ukr0_percent=_value(row, "vkr0_percent", float(row["vkr_percent"])),
                pfe_kw=_value(row, "pfe_kw", 0.0),
                i0_percent=_value(row, "i0_percent", 0.0),
                name=str(row.get("name") or ""),
            )
        )
    return transformers


def _switches(net: Any, buses: dict[int, Any]) -> list[Switch]:
    switches = []
    kept_lines = {int(i) for i, r in net.line.iterrows() if _active(r, buses, "from_bus", "to_bus")}
    kept_trafos = {int(i) for i, r in net.trafo.iterrows() if _active(r, buses, "hv_bus", "lv_bus")}
    for index, row in net.switch.iterrows():
        bus, element, kind = int(row["bus"]), int(row["element"]), row["et"]
        closed = bool(row["closed"])
        common = {"id": f"switch{index}", "bus": str(bus), "closed": closed}
        common["normally_closed"] = closed
        common["name"] = str(row.get("name") or "")
        if bus not in buses:
            continue
        if kind == "b" and element in buses:
            switches.append(Switch(to_bus=str(element), **common))
        elif kind == "l" and element in kept_lines:
            switches.append(Switch(branch=f"line{element}", **common))
        elif kind == "t" and element in kept_trafos:
            switches.append(Switch(branch=f"trafo{element}", **common))
    return switches


def _loads(net: Any, buses: dict[int, Any]) -> list[Load]:
    loads = []
    for table, prefix, sign in (("load", "load", 1.0), ("sgen", "sgen", -1.0)):
        for index, row in getattr(net, table).iterrows():
            if not _active(row, buses, "bus"):
                continue
            scale = _value(row, "scaling", 1.0) * sign * 1e3
            loads.append(
                Load(
                    id=f"{prefix}{index}",
                    bus=str(int(row["bus"])),
                    p_kw=float(row["p_mw"]) * scale,
                    q_kvar=float(row["q_mvar"]) * scale,
                    name=str(row.get("name") or ""),
                )
            )
    return loads


def _sources(net: Any, buses: dict[int, Any]) -> list[Source]:
    sources = []
    for index, row in net.ext_grid.iterrows():
        if not _active(row, buses, "bus"):
            continue
        sources.append(
            Source(
                id=f"ext_grid{index}",
                bus=str(int(row["bus"])),
                sk_mva=_value(row, "s_sc_max_mva", DEFAULT_SK_MVA),
                rx_ratio=_value(row, "rx_max", 0.1),
                x0_x1=_value(row, "x0x_max", 1.0),
                r0_x0=_value(row, "r0x0_max", 0.1),
                vm_pu=_value(row, "vm_pu", 1.0),
                va_deg=_value(row, "va_degree", 0.0),
                name=str(row.get("name") or ""),
            )
        )
    return sources


def _measurements(net: Any, buses: dict[int, Any]) -> list[Measurement]:
    measurements = []
    prefixes = {"bus": "", "line": "line", "trafo": "trafo"}
    for index, row in net.measurement.iterrows():
        kind = str(row["element_type"])
        if kind not in prefixes:
            raise InvalidInputError(
                f"measurement {index}: element_type {kind!r} is not supported (bus, line, trafo)"
            )
        element = f"{prefixes[kind]}{int(row['element'])}"
        side = None
        if kind != "bus":
            side = _side(net, kind, int(row["element"]), row.get("side"))
        quantity = str(row["measurement_type"])
        if quantity not in _MEASUREMENT_SCALE:
            raise InvalidInputError(
                f"measurement {index}: measurement_type {quantity!r} is not supported"
            )
        scale = _MEASUREMENT_SCALE[quantity]
        # pandapower counts bus powers as consumption, we as injections.
        sign = -1.0 if kind == "bus" and quantity in ("p", "q") else 1.0
        measurements.append(
            Measurement(
                id=f"measurement{index}",
                quantity=quantity,
                element=element,
                value=sign * float(row["value"]) * scale,
                std_dev=float(row["std_dev"]) * scale,
                side=side,
            )
        )
    return measurements


def _side(net: Any, kind: str, element: int, side: Any) -> str:
    """Return the bus id a branch measurement is taken at (pandapower names it or its end)."""
    row = getattr(net, kind).loc[element]
    ends = {"from": "from_bus", "to": "to_bus", "hv": "hv_bus", "lv": "lv_bus"}
    if isinstance(side, str) and side in ends:
        return str(int(row[ends[side]]))
    try:
        return str(int(side))
    except (TypeError, ValueError):
        raise InvalidInputError(f"{kind} {element}: measurement side {side!r} unknown") from None
