"""Print the grid solvers' agreement with pandapower and OpenDSS (figures for the docs).

Run: ``.venv/bin/python benchmarks/grid_crosscheck.py``. The same comparisons, with the
issue's limits as assertions, are in ``tests/grid/test_grid_powerflow.py`` and
``tests/grid/test_grid_faults.py``.
"""

import sys
from pathlib import Path

import numpy as np
import pandapower as pp
from pandapower import networks

from gridedge.grid import FaultStudy, from_pandapower, power_flow
from gridedge.grid.cases import cigre_mv, ieee33, turin

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "grid"))
from grid_oracles import opendss_fault

KINDS = ("a-g", "b-c", "b-c-g", "a-b-c", "c-a-g", "a-b")


def pandapower_voltages(net) -> np.ndarray:
    pp.runpp(net, trafo_model="pi", calculate_voltage_angles=True, tolerance_mva=1e-10, numba=False)
    return net.res_bus.vm_pu.to_numpy() * np.exp(1j * np.radians(net.res_bus.va_degree.to_numpy()))


def power_flows() -> None:
    print("power flow, max |dV| against pandapower 3.5 (p.u.)")
    net = networks.case33bw()
    expected = pandapower_voltages(net)
    for method in ("sweep", "newton"):
        result = power_flow(ieee33(), method=method)
        ours = np.array([result.voltage_of(str(i + 1)) for i in net.bus.index])
        print(
            f"  IEEE 33-bus (ours typed in) vs case33bw, {method}: {abs(ours - expected).max():.1e}"
        )
    for closed in (False, True):
        net = networks.create_cigre_network_mv(with_der="pv_wind")
        net.switch.loc[:, "closed"] = net.switch.closed | closed
        expected = pandapower_voltages(net)
        result = power_flow(from_pandapower(net))
        ours = np.array([result.voltage_of(str(i)) for i in net.bus.index])
        state = "switches closed (meshed)" if closed else "as delivered (radial)"
        print(f"  CIGRE MV {state}, {result.method}: {abs(ours - expected).max():.1e}")


def faults() -> None:
    print("faults against OpenDSS (opendssdirect.py), worst over kinds", ", ".join(KINDS))
    print("  (voltages / nominal; currents / max(own size, 1 % of fault current); fault current)")
    cases = {
        "IEEE 33-bus": (ieee33(), [("L8-9", 0.4), ("L29-30", 0.0), ("L3-23", 1.0)]),
        "Turin": (turin(), [("F1-04", 0.37), ("F2-02", 0.9), ("SS05-F2-10", 0.5), ("TIE", 0.5)]),
        "CIGRE MV": (cigre_mv(), [("L2-3", 0.45), ("L13-14", 0.7), ("L11-4", 0.5)]),
    }
    for name, (grid, locations) in cases.items():
        study = FaultStudy(grid)
        worst = np.zeros(3)
        for location, fraction in locations:
            for kind in KINDS:
                voltages, currents, fault_current = opendss_fault(
                    grid, study, location, fraction, kind, 0.5
                )
                result = study.line(location, fraction, kind, 0.5)
                scale = np.abs(fault_current).max()
                dv = max(
                    np.abs(result.phase_voltages(b) * grid.bus(b).kv * 1e3 / np.sqrt(3) - v).max()
                    / (grid.bus(b).kv * 1e3 / np.sqrt(3))
                    for b, v in voltages.items()
                )
                di = max(
                    (
                        np.abs(result.phase_currents(br, grid.branch(br).buses[end]) - i)
                        / np.maximum(np.abs(i), 0.01 * scale)
                    ).max()
                    for (br, end), i in currents.items()
                )
                df = np.abs(result.fault_current - fault_current).max() / scale
                worst = np.maximum(worst, [dv, di, df])
        print(
            f"  {name}, {len(locations)} locations x {len(KINDS)} kinds: voltages {worst[0]:.1e}, "
            f"branch currents {worst[1]:.1e}, fault current {worst[2]:.1e}"
        )


if __name__ == "__main__":
    power_flows()
    faults()
