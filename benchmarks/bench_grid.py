"""Grid solver and waveform synthesis benchmarks (``make bench``).

Figures go to ``docs/performance.md`` (Grid section). Peers in the same run: OpenDSS solving
the same Turin fault, pandapower solving the same power flow.
"""

import itertools
import sys
from pathlib import Path

import numpy as np
import pytest

from gridedge.grid import FaultStudy, from_pandapower, power_flow
from gridedge.grid.cases import turin
from gridedge.grid.waveform import FaultInception, Simulation, WaveformSettings

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "grid"))

FS = 6400.0
CHUNK = 640  # 0.1 s per read, a meter's usual acquisition chunk


@pytest.fixture(scope="module")
def grid():
    return turin()


@pytest.fixture(scope="module")
def study(grid):
    return FaultStudy(grid)


def test_turin_fault_solution(benchmark, grid, study) -> None:
    """One fault, factorisation reused: cycles through every MV line, position and kind."""
    lines = [line.id for line in grid.lines if line.id.startswith(("F", "TIE"))]
    cases = itertools.cycle(
        itertools.product(lines, (0.1, 0.37, 0.5, 0.9), ("a-g", "b-c", "b-c-g", "a-b-c"))
    )

    def solve():
        line, fraction, kind = next(cases)
        return study.line(line, fraction, kind, 1.0)

    result = benchmark(solve)
    assert np.abs(result.fault_current).max() > 100


def test_turin_fault_solution_cold(benchmark, grid, study) -> None:
    """One fault at a bus whose impedance columns are not cached (three sparse solves)."""
    buses = itertools.cycle(grid.bus_ids[4:])

    def solve():
        study._columns.clear()
        return study.bus(next(buses), "a-g", 1.0)

    benchmark(solve)


def test_turin_fault_study_setup(benchmark, grid) -> None:
    """Power flow, admittance matrices and their sparse LU (once per grid state)."""
    benchmark(lambda: FaultStudy(grid.with_switch_states({})))


def test_turin_fault_opendss_peer(benchmark, grid, study) -> None:
    """The peer: OpenDSS re-solving the same kind of fault (circuit compiled once)."""
    dss = pytest.importorskip("opendssdirect")
    from grid_oracles import opendss_script

    for command in opendss_script(grid, study, ("F1-04", 0.37)):
        dss.Text.Command(command)
    dss.Text.Command("new fault.f bus1=fpt.1 phases=1 r=1.0")
    dss.Text.Command("set mode=snapshot")
    benchmark(dss.Solution.Solve)


@pytest.mark.parametrize("method", ["sweep", "newton"])
def test_turin_power_flow(benchmark, grid, method) -> None:
    benchmark(lambda: power_flow(grid.with_switch_states({}), method=method))


def test_cigre_power_flow_pandapower_peer(benchmark) -> None:
    """pandapower and our Newton on CIGRE MV (the same network, same run)."""
    pp = pytest.importorskip("pandapower")
    networks = pytest.importorskip("pandapower.networks")
    net = networks.create_cigre_network_mv(with_der="pv_wind")
    benchmark(lambda: pp.runpp(net, trafo_model="pi", numba=False))


def test_cigre_power_flow_ours(benchmark) -> None:
    networks = pytest.importorskip("pandapower.networks")
    grid = from_pandapower(networks.create_cigre_network_mv(with_der="pv_wind"))
    benchmark(lambda: power_flow(grid.with_switch_states({})))


def test_synthesis_14_meters_one_second(benchmark, grid) -> None:
    """Every Turin meter's DAQ stream for one second at 6.4 kHz, read in 0.1 s chunks.

    Real-time factor = 1 s / the time per round.
    """
    simulation = Simulation(
        grid, [FaultInception(0.2, "F1-04", "a-g", 0.37, 1.0)], WaveformSettings(fs=FS)
    )
    streams = list(simulation.sources().values())

    def one_second():
        for _ in range(int(FS) // CHUNK):
            for stream in streams:
                stream.read(CHUNK)

    benchmark(one_second)
