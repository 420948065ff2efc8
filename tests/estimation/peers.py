"""The peers of the state estimator, fed with the same network and measurements.

- pandapower (``pandapower.estimation.estimate``, WLS): bus powers are consumption there
  (``p`` at a bus is ``-`` our injection), branch sides must be ``"from"``/``"to"`` or
  ``"hv"``/``"lv"`` (a bus index as side silently drops a p/q branch measurement), standard
  deviations below 1e-5 p.u. of ``net.sn_mva`` are raised to it, and the estimator hard-codes
  the T model of transformers: :func:`pandapower_estimate` switches it to the pi model our
  network uses.
- power-grid-model (C++ core): SI units (V, W, var, A, ohm, F), one id namespace; voltage
  sensors carry line-to-line volts; power sensors at a node measure its injection.

Also builds the synthetic grids of the tests and benchmarks.
"""

import contextlib
import math
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from gridedge.grid import Bus, Grid, Line, Load, Measurement, Source, Transformer
from gridedge.grid.cases.turin import LV_CABLE, MV_CABLE

PANDAPOWER_SIGMA_FLOOR_PU = 1e-5
"""pandapower raises every standard deviation below this (p.u. of net.sn_mva) to it."""


# --- synthetic grids ----------------------------------------------------------------------


def lv_grid(n_bus: int = 100, seed: int = 7) -> Grid:
    """A residential LV grid of `n_bus` buses: MV busbar, 0.4 MVA Dyn11 transformer, LV
    busbar and four feeders of customers 20 m apart, each customer a 0.8-2.2 kW load."""
    rng = np.random.default_rng(seed)
    buses = [Bus("MV", 22.0), Bus("LV", 0.4)]
    transformer = Transformer(
        "T", "MV", "LV", 0.4, 22.0, 0.4, 6.0, 1.425, "Dyn11", pfe_kw=1.35, i0_percent=0.3375
    )
    customers = n_bus - 2
    lines, loads = [], []
    for feeder in range(4):
        previous = "LV"
        count = customers // 4 + (1 if feeder < customers % 4 else 0)
        for c in range(count):
            bus = f"F{feeder}-{c:03d}"
            buses.append(Bus(bus, 0.4))
            lines.append(Line(bus, previous, bus, 0.02, **LV_CABLE))
            p = float(rng.uniform(0.8, 2.2))
            loads.append(Load(f"D{bus}", bus, p, p * 0.33))
            previous = bus
    return Grid(
        name=f"LV {n_bus}",
        buses=tuple(buses),
        lines=tuple(lines),
        transformers=(transformer,),
        loads=tuple(loads),
        sources=(Source("S", "MV", 500.0),),
    )


def radial_grid(n_bus: int, seed: int = 11, total_mw: float = 8.0) -> Grid:
    """A random radial 22 kV cable grid of `n_bus` buses carrying `total_mw` in all.

    Bus k hangs 50-300 m from a random one of the previous max(50, n_bus / 10) buses: long
    feeders with laterals, about 20 hops deep whatever the size. Loads at power factor 0.96.
    """
    rng = np.random.default_rng(seed)
    window = max(50, n_bus // 10)
    buses = [Bus("0", 22.0)]
    lines, loads = [], []
    mean_kw = total_mw * 1e3 / max(n_bus - 1, 1)
    for k in range(1, n_bus):
        parent = int(rng.integers(max(0, k - window), k))
        buses.append(Bus(str(k), 22.0))
        lines.append(Line(f"L{k}", str(parent), str(k), float(rng.uniform(0.05, 0.3)), **MV_CABLE))
        p = float(rng.uniform(0.5, 1.5)) * mean_kw
        loads.append(Load(f"D{k}", str(k), p, 0.29 * p))
    return Grid(
        name=f"radial {n_bus}",
        buses=tuple(buses),
        lines=tuple(lines),
        loads=tuple(loads),
        sources=(Source("S", "0", 1000.0),),
    )


# --- pandapower ---------------------------------------------------------------------------


def to_pandapower(grid: Grid) -> Any:
    """A pandapower network equal to `grid` (lines, two-winding transformers, switches)."""
    import pandapower as pp

    net = pp.create_empty_network(sn_mva=1.0, f_hz=grid.frequency_hz)
    index = {bus.id: pp.create_bus(net, vn_kv=bus.kv, name=bus.id) for bus in grid.buses}
    element: dict[str, tuple[str, int]] = {}
    for line in grid.lines:
        element[line.id] = ("l", len(net.line))
        pp.create_line_from_parameters(
            net,
            index[line.from_bus],
            index[line.to_bus],
            line.length_km,
            line.r1_ohm_per_km,
            line.x1_ohm_per_km,
            line.c1_nf_per_km,
            max_i_ka=1.0,
            name=line.id,
        )
    for t in grid.transformers:
        _, _, clock = t.windings
        element[t.id] = ("t", len(net.trafo))
        pp.create_transformer_from_parameters(
            net,
            index[t.hv_bus],
            index[t.lv_bus],
            t.sn_mva,
            t.hv_kv,
            t.lv_kv,
            t.ukr_percent,
            t.uk_percent,
            t.pfe_kw,
            t.i0_percent,
            shift_degree=30.0 * clock,
            name=t.id,
        )
    for switch in grid.switches:
        if switch.to_bus is not None:
            kind, target = "b", index[switch.to_bus]
        else:
            kind, target = element[switch.branch]
        pp.create_switch(net, index[switch.bus], target, kind, closed=switch.closed)
    for load in grid.loads:
        pp.create_load(net, index[load.bus], load.p_kw / 1e3, load.q_kvar / 1e3, name=load.id)
    for source in grid.sources:
        pp.create_ext_grid(net, index[source.bus], vm_pu=source.vm_pu, va_degree=source.va_deg)
    return net


def add_pandapower_measurements(net: Any, grid: Grid, measurements: Sequence[Measurement]) -> None:
    """Replace `net`'s measurements by ours (`grid` must be ``from_pandapower(net)`` or the
    grid `net` was made from by :func:`to_pandapower`)."""
    import pandapower as pp

    net.measurement = net.measurement.iloc[0:0]
    bus_index = _pandapower_bus_index(net, grid)
    branch_index = _pandapower_branch_index(net, grid)
    for m in measurements:
        value, sigma = m.value, m.std_dev
        if m.quantity in ("p", "q", "i"):
            value, sigma = value / 1e3, sigma / 1e3
        if m.element in bus_index:
            if m.quantity in ("p", "q"):
                value = -value  # consumption in pandapower
            pp.create_measurement(net, m.quantity, "bus", value, sigma, bus_index[m.element])
            continue
        kind, element = branch_index[m.element]
        ends = ("from", "to") if kind == "line" else ("hv", "lv")
        side = ends[grid.branch(m.element).buses.index(m.side)]
        pp.create_measurement(net, m.quantity, kind, value, sigma, element, side=side)


def _pandapower_bus_index(net: Any, grid: Grid) -> dict[str, int]:
    names = dict(zip(net.bus.name, net.bus.index, strict=True))
    if all(bus.id in names for bus in grid.buses):
        return {bus.id: int(names[bus.id]) for bus in grid.buses}
    return {bus.id: int(bus.id) for bus in grid.buses}


def _pandapower_branch_index(net: Any, grid: Grid) -> dict[str, tuple[str, int]]:
    found: dict[str, tuple[str, int]] = {}
    for kind in ("line", "trafo"):
        table = getattr(net, kind)
        for i, name in zip(table.index, table.name, strict=True):
            found[f"{kind}{i}"] = (kind, int(i))
            if isinstance(name, str):
                found[name] = (kind, int(i))
    return found


def clamp_for_pandapower(measurements: Sequence[Measurement], sn_mva: float) -> list[Measurement]:
    """Raise standard deviations to pandapower's floor, so both estimators weigh alike."""
    clamped = []
    for m in measurements:
        floor = PANDAPOWER_SIGMA_FLOOR_PU
        if m.quantity in ("p", "q"):
            floor *= sn_mva * 1e3
        elif m.quantity in ("va", "ia"):
            floor = math.degrees(floor)
        elif m.quantity == "i":
            floor = 0.0  # converted on the side's current base; never near the floor here
        clamped.append(
            Measurement(m.id, m.quantity, m.element, m.value, max(m.std_dev, floor), m.side)
        )
    return clamped


@contextlib.contextmanager
def pandapower_pi_transformers() -> Iterator[None]:
    """Make pandapower's estimator model transformers as pi sections (it hard-codes T)."""
    import pandapower.estimation.ppc_conversion as conversion

    original = conversion._init_runse_options

    def pi_model(net: Any, **options: Any) -> None:
        options["trafo_model"] = "pi"
        original(net, **options)

    conversion._init_runse_options = pi_model
    try:
        yield
    finally:
        conversion._init_runse_options = original


def pandapower_estimate(
    net: Any, tolerance: float = 1e-10, zero_injection: Any = None
) -> dict[str, Any]:
    """Run pandapower's WLS estimator (flat start, pi transformers, no zero injections unless
    named: an iterable of bus indices)."""
    from pandapower import estimation
    from pandas.errors import SettingWithCopyWarning

    with pandapower_pi_transformers(), warnings.catch_warnings():
        # pandapower's measurement conversion writes into pandas slices and casts the NaN
        # index of merged measurements to int (its own affairs).
        warnings.simplefilter("ignore", SettingWithCopyWarning)
        warnings.filterwarnings("ignore", "invalid value encountered in cast", RuntimeWarning)
        return estimation.estimate(
            net,
            init="flat",
            tolerance=tolerance,
            maximum_iterations=50,
            zero_injection=zero_injection,
        )


# --- power-grid-model ---------------------------------------------------------------------


def to_pgm(grid: Grid, measurements: Sequence[Measurement]) -> dict[str, np.ndarray]:
    """Input data of power-grid-model for `grid` with `measurements` as sensors.

    Voltage sensors from ``v`` (magnitude only), power sensors from ``p`` / ``q`` pairs at a
    bus (node injection) or a branch end; each pair needs both (power-grid-model's sensors
    carry both) and gets their standard deviations separately.
    """
    from power_grid_model import ComponentType, DatasetType, initialize_array

    ids = iter(range(1, 10**9))
    node_id = {bus.id: next(ids) for bus in grid.buses}
    kv = {bus.id: bus.kv for bus in grid.buses}
    nodes = initialize_array(DatasetType.input, ComponentType.node, len(grid.buses))
    nodes["id"] = [node_id[b.id] for b in grid.buses]
    nodes["u_rated"] = [b.kv * 1e3 for b in grid.buses]
    lines = initialize_array(DatasetType.input, ComponentType.line, len(grid.lines))
    branch_id = {}
    open_ends = {(s.branch, s.bus) for s in grid.switches if s.branch is not None and not s.closed}
    for row, line in enumerate(grid.lines):
        branch_id[line.id] = next(ids)
        lines[row]["id"] = branch_id[line.id]
        lines[row]["from_node"] = node_id[line.from_bus]
        lines[row]["to_node"] = node_id[line.to_bus]
        lines[row]["from_status"] = int((line.id, line.from_bus) not in open_ends)
        lines[row]["to_status"] = int((line.id, line.to_bus) not in open_ends)
        length = line.length_km
        lines[row]["r1"], lines[row]["x1"] = (
            line.r1_ohm_per_km * length,
            line.x1_ohm_per_km * length,
        )
        lines[row]["c1"] = line.c1_nf_per_km * 1e-9 * length
        lines[row]["tan1"] = 0.0
        lines[row]["i_n"] = 1e3
    transformers = initialize_array(
        DatasetType.input, ComponentType.transformer, len(grid.transformers)
    )
    for row, t in enumerate(grid.transformers):
        branch_id[t.id] = next(ids)
        high, low, clock = t.windings
        winding = {"Y": 0, "YN": 1, "D": 2}
        values = {
            "id": branch_id[t.id],
            "from_node": node_id[t.hv_bus],
            "to_node": node_id[t.lv_bus],
            "from_status": int((t.id, t.hv_bus) not in open_ends),
            "to_status": int((t.id, t.lv_bus) not in open_ends),
            "u1": t.hv_kv * 1e3,
            "u2": t.lv_kv * 1e3,
            "sn": t.sn_mva * 1e6,
            "uk": t.uk_percent / 100,
            "pk": t.ukr_percent / 100 * t.sn_mva * 1e6,
            "i0": t.i0_percent / 100,
            "p0": t.pfe_kw * 1e3,
            "winding_from": winding[high],
            "winding_to": winding[low],
            "clock": clock,
            "tap_side": 0,
            "tap_pos": 0,
            "tap_min": 0,
            "tap_max": 0,
            "tap_nom": 0,
            "tap_size": 0.0,
        }
        for key, value in values.items():
            transformers[row][key] = value
    sources = initialize_array(DatasetType.input, ComponentType.source, len(grid.sources))
    for row, source in enumerate(grid.sources):
        sources[row]["id"] = next(ids)
        sources[row]["node"] = node_id[source.bus]
        sources[row]["status"] = 1
        sources[row]["u_ref"] = source.vm_pu
        sources[row]["u_ref_angle"] = math.radians(source.va_deg)
        sources[row]["sk"] = 1e15  # an ideal slack, as in our power flow and estimator
        sources[row]["rx_ratio"] = source.rx_ratio
    voltage = [m for m in measurements if m.quantity == "v"]
    v_sensors = initialize_array(DatasetType.input, ComponentType.sym_voltage_sensor, len(voltage))
    for row, m in enumerate(voltage):
        v_sensors[row]["id"] = next(ids)
        v_sensors[row]["measured_object"] = node_id[m.element]
        v_sensors[row]["u_measured"] = m.value * kv[m.element] * 1e3
        v_sensors[row]["u_sigma"] = m.std_dev * kv[m.element] * 1e3
    pairs: dict[tuple[str, str | None], dict[str, Measurement]] = {}
    for m in measurements:
        if m.quantity in ("p", "q"):
            pairs.setdefault((m.element, m.side), {})[m.quantity] = m
    # Nodes without appliances are zero injections to power-grid-model: every bus with a
    # load or a measured injection gets one appliance, and injection sensors sit on it.
    consumers = sorted(
        {load.bus for load in grid.loads} | {e for e, side in pairs if side is None},
        key=list(node_id).index,
    )
    load_id = {bus: next(ids) for bus in consumers}
    appliances = initialize_array(DatasetType.input, ComponentType.sym_load, len(consumers))
    appliances["id"] = [load_id[bus] for bus in consumers]
    appliances["node"] = [node_id[bus] for bus in consumers]
    appliances["status"] = 1
    appliances["type"] = 0
    appliances["p_specified"] = appliances["q_specified"] = 0.0
    p_sensors = initialize_array(DatasetType.input, ComponentType.sym_power_sensor, len(pairs))
    for row, ((element, side), pair) in enumerate(pairs.items()):
        p_sensors[row]["id"] = next(ids)
        sign = 1e3
        if side is None:
            p_sensors[row]["measured_object"] = load_id[element]
            p_sensors[row]["measured_terminal_type"] = 4  # load: consumption positive
            sign = -1e3
        else:
            p_sensors[row]["measured_object"] = branch_id[element]
            p_sensors[row]["measured_terminal_type"] = grid.branch(element).buses.index(side)
        p_sensors[row]["p_measured"] = pair["p"].value * sign
        p_sensors[row]["q_measured"] = pair["q"].value * sign
        p_sensors[row]["p_sigma"] = pair["p"].std_dev * 1e3
        p_sensors[row]["q_sigma"] = pair["q"].std_dev * 1e3
    return {
        ComponentType.sym_load: appliances,
        ComponentType.node: nodes,
        ComponentType.line: lines,
        ComponentType.transformer: transformers,
        ComponentType.source: sources,
        ComponentType.sym_voltage_sensor: v_sensors,
        ComponentType.sym_power_sensor: p_sensors,
    }


def pgm_model(grid: Grid, measurements: Sequence[Measurement]) -> Any:
    """A power-grid-model model of `grid` with `measurements` as sensors."""
    from power_grid_model import PowerGridModel

    return PowerGridModel(to_pgm(grid, measurements), system_frequency=grid.frequency_hz)


def pgm_sensor_update(data: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """An update dataset of power-grid-model carrying new values of every sensor in `data`
    (input data from :func:`to_pgm`): what a new set of readings costs it to take in."""
    from power_grid_model import ComponentType, DatasetType, initialize_array

    fields = {
        ComponentType.sym_voltage_sensor: ("u_measured", "u_sigma"),
        ComponentType.sym_power_sensor: ("p_measured", "q_measured", "p_sigma", "q_sigma"),
    }
    update = {}
    for component, names in fields.items():
        given = data[component]
        array = initialize_array(DatasetType.update, component, len(given))
        for name in ("id", *names):
            array[name] = given[name]
        update[component] = array
    return update


def pgm_estimate(
    model: Any,
    method: str = "iterative_linear",
    tolerance: float = 1e-8,
    update: dict[str, np.ndarray] | None = None,
) -> np.ndarray:
    """Node voltages (complex p.u., node order) estimated by power-grid-model, after taking
    in new sensor values from `update` (:func:`pgm_sensor_update`) if given."""
    from power_grid_model import CalculationMethod, ComponentType

    if update is not None:
        model.update(update_data=update)
    result = model.calculate_state_estimation(
        symmetric=True,
        error_tolerance=tolerance,
        max_iterations=50,
        calculation_method=CalculationMethod[method],
        output_component_types={ComponentType.node},
    )
    node = result[ComponentType.node]
    return node["u_pu"] * np.exp(1j * node["u_angle"])
