"""Independent oracles for the grid solvers: OpenDSS (through opendssdirect.py).

:func:`opendss_fault` writes a grid as an OpenDSS circuit that represents the same linear
network the fault analysis solves - each source an EMF behind its sequence impedances,
each load the constant impedance it presents at its pre-fault voltage (delta connected, so
without a zero-sequence path) - adds the fault and lets OpenDSS solve it in the phase frame.
The EMFs come from :attr:`gridedge.grid.FaultStudy.source_emf`; all else is the grid's data.
"""

import math

import numpy as np

from gridedge.grid import FaultKind, FaultStudy, Grid, Line, Transformer

PHASES = "abc"


def _name(element_id: str) -> str:
    """OpenDSS-safe name (OpenDSS names may not hold '.', ' ' or '@')."""
    return element_id.replace(".", "_").replace(" ", "_").replace("@", "_at_")


def opendss_script(grid: Grid, study: FaultStudy, split: tuple[str, float] | None) -> list[str]:
    """Commands that build the circuit; `split` puts a bus "fpt" at (line, fraction)."""
    net = study.network
    open_ends = net.topology.open_ends
    if any(s.to_bus is not None for s in grid.switches):
        raise ValueError("the OpenDSS oracle does not model bus-bus switches")
    # OpenDSS assumes 60 Hz unless told: that would scale every line's charging current.
    commands = ["clear", f"set defaultbasefrequency={grid.frequency_hz}"]
    for k, source in enumerate(grid.sources):
        emf = study.source_emf[source.id]
        kv = grid.bus(source.bus).kv
        z_base = kv**2
        z0, z1, _ = net.source_impedance[k] * z_base
        head = "new circuit.oracle" if k == 0 else f"new vsource.{_name(source.id)}"
        commands.append(
            f"{head} basekv={kv} bus1={_name(source.bus)} pu={abs(emf)} "
            f"angle={math.degrees(np.angle(emf))} Z1=[{z1.real}, {z1.imag}] "
            f"Z0=[{z0.real}, {z0.imag}] Z2=[{z1.real}, {z1.imag}]"
        )
    for line in grid.lines:
        ends = []
        for bus in line.buses:
            opened = (line.id, bus) in open_ends
            ends.append(f"{_name(line.id)}_open_{_name(bus)}" if opened else _name(bus))
        data = (
            f"phases=3 r1={line.r1_ohm_per_km} x1={line.x1_ohm_per_km} c1={line.c1_nf_per_km} "
            f"r0={line.r0_ohm_per_km} x0={line.x0_ohm_per_km} c0={line.c0_nf_per_km} units=km"
        )
        if split is not None and split[0] == line.id:
            x = split[1]
            commands.append(
                f"new line.{_name(line.id)} bus1={ends[0]} bus2=fpt {data} "
                f"length={line.length_km * x}"
            )
            commands.append(
                f"new line.{_name(line.id)}_b bus1=fpt bus2={ends[1]} {data} "
                f"length={line.length_km * (1 - x)}"
            )
        else:
            commands.append(
                f"new line.{_name(line.id)} bus1={ends[0]} bus2={ends[1]} {data} "
                f"length={line.length_km}"
            )
    for transformer in grid.transformers:
        commands.append(_transformer(transformer, open_ends))
    v_pre = study.prefault.voltage
    for load in grid.loads:
        index = grid.bus_ids.index(load.bus)
        if not study.prefault.energised[index]:
            continue
        scale = 1 / abs(v_pre[index]) ** 2  # constant impedance at the pre-fault voltage
        commands.append(
            f"new load.{_name(load.id)} bus1={_name(load.bus)} phases=3 conn=delta "
            f"kv={grid.bus(load.bus).kv} kw={load.p_kw * scale} kvar={load.q_kvar * scale} "
            "model=2 vminpu=0 vmaxpu=100"
        )
    kvs = sorted({bus.kv for bus in grid.buses})
    commands += [f"set voltagebases=[{' '.join(map(str, kvs))}]", "calcv"]
    return commands


def _transformer(transformer: Transformer, open_ends: frozenset[tuple[str, str]]) -> str:
    high, low, clock = transformer.windings
    if transformer.hv_neutral_ohm or transformer.lv_neutral_ohm:
        raise ValueError("the OpenDSS oracle models solidly earthed star points only")
    conns, buses = [], []
    for bus, winding in ((transformer.hv_bus, high), (transformer.lv_bus, low)):
        name = _name(bus)
        if (transformer.id, bus) in open_ends:
            name = f"{_name(transformer.id)}_open_{name}"
        if winding == "D":
            conns.append("delta")
            buses.append(name)
        else:
            conns.append("wye")
            buses.append(f"{name}.1.2.3.0" if winding == "YN" else f"{name}.1.2.3.4")
    if "delta" in conns and "wye" in conns:
        lead = {1: "lag", 11: "lead"}[clock]
    elif clock == 0:
        lead = "lag"
    else:
        raise ValueError(f"vector group {transformer.vector_group} is not in the oracle")
    kva = transformer.sn_mva * 1e3
    g = transformer.pfe_kw / kva * 100
    imag = math.sqrt(max(transformer.i0_percent**2 - g**2, 0.0))
    return (
        f"new transformer.{_name(transformer.id)} phases=3 windings=2 "
        f"buses=[{' '.join(buses)}] conns=[{' '.join(conns)}] "
        f"kvs=[{transformer.hv_kv} {transformer.lv_kv}] kvas=[{kva} {kva}] "
        f"%loadloss={transformer.ukr_percent} "
        f"xhl={math.sqrt(transformer.uk_percent**2 - transformer.ukr_percent**2)} "
        f"%noloadloss={g} %imag={imag} leadlag={lead}"
    )


def _fault_command(bus: str, kind: FaultKind, resistance_ohm: float) -> str:
    nodes = [str(p + 1) for p in kind.phases]
    if kind.earthed:
        return f"new fault.f bus1={bus}.{'.'.join(nodes)} phases={len(nodes)} r={resistance_ohm}"
    if len(nodes) == 2:
        return (
            f"new fault.f bus1={bus}.{nodes[0]} bus2={bus}.{nodes[1]} phases=1 r={resistance_ohm}"
        )
    return f"new fault.f bus1={bus}.1.2.3 bus2={bus}.4.4.4 phases=3 r={resistance_ohm}"


def opendss_fault(
    grid: Grid,
    study: FaultStudy,
    location: str,
    fraction: float,
    kind: str,
    resistance_ohm: float,
) -> tuple[dict[str, np.ndarray], dict[tuple[str, int], np.ndarray], np.ndarray]:
    """Solve a fault in OpenDSS.

    Returns
    -------
    voltages : dict
        Bus id -> phase-to-earth voltages (3,), V.
    currents : dict
        (branch id, end 0/1) -> phase currents into the branch (3,), A.
    fault_current : ndarray, shape (3,)
        Phase currents into the fault, A (0 for phases not faulted).
    """
    import opendssdirect as dss

    fault_kind = FaultKind.parse(kind)
    on_line = location in {line.id for line in grid.lines} and 0 < fraction < 1
    split = (location, fraction) if on_line else None
    for command in opendss_script(grid, study, split):
        dss.Text.Command(command)
    if on_line:
        fault_bus = "fpt"
    elif location in grid.bus_ids:
        fault_bus = _name(location)
    else:
        fault_bus = _name(grid.line(location).buses[0 if fraction == 0 else 1])
    dss.Text.Command(_fault_command(fault_bus, fault_kind, resistance_ohm))
    dss.Text.Command("set mode=snapshot")
    dss.Text.Command("solve")
    if not dss.Solution.Converged():
        raise RuntimeError("OpenDSS did not converge")
    voltages = {}
    for bus in grid.bus_ids:
        dss.Circuit.SetActiveBus(_name(bus))
        if dss.Bus.Name() != _name(bus).lower():
            continue
        raw = np.array(dss.Bus.Voltages())
        phasors = raw[0::2] + 1j * raw[1::2]
        nodes = dss.Bus.Nodes()
        voltages[bus] = np.array([phasors[nodes.index(n)] if n in nodes else 0 for n in (1, 2, 3)])
    currents = {}
    for branch in grid.branches:
        kind_name = "line" if isinstance(branch, Line) else "transformer"
        names = [f"{kind_name}.{_name(branch.id)}"]
        if split is not None and branch.id == location:
            names.append(f"line.{_name(branch.id)}_b")
        for end, element in ((0, names[0]), (1, names[-1])):
            dss.Circuit.SetActiveElement(element)
            raw = np.array(dss.CktElement.Currents())
            phasors = raw[0::2] + 1j * raw[1::2]
            conductors = dss.CktElement.NumConductors()
            currents[(branch.id, end)] = phasors[end * conductors : end * conductors + 3]
    dss.Circuit.SetActiveElement("fault.f")
    raw = np.array(dss.CktElement.Currents())
    terminal = (raw[0::2] + 1j * raw[1::2])[: len(fault_kind.phases)]
    fault_current = np.zeros(3, dtype=complex)
    fault_current[list(fault_kind.phases)] = terminal
    return voltages, currents, fault_current
