"""Power flow: sweep and Newton against each other and against pandapower."""

import numpy as np
import pytest

from gridedge.errors import ConvergenceError, InvalidInputError
from gridedge.grid import Bus, Grid, Line, Load, Source, Transformer, from_pandapower, power_flow
from gridedge.grid.cases import cigre_mv, ieee33

pp = pytest.importorskip("pandapower")
networks = pytest.importorskip("pandapower.networks")

TOLERANCE_PU = 1e-4
"""The agreement the issue asks of the power flow, |dV| in p.u."""


def pandapower_voltages(net) -> np.ndarray:
    pp.runpp(net, trafo_model="pi", calculate_voltage_angles=True, tolerance_mva=1e-10, numba=False)
    return net.res_bus.vm_pu.to_numpy() * np.exp(1j * np.radians(net.res_bus.va_degree.to_numpy()))


@pytest.mark.parametrize("method", ["sweep", "newton"])
def test_ieee33_matches_pandapower_case33bw(method) -> None:
    """Our typed-in IEEE 33-bus data against pandapower's independent copy of it."""
    net = networks.case33bw()
    expected = pandapower_voltages(net)
    result = power_flow(ieee33(), method=method)
    ours = np.array([result.voltage_of(str(i + 1)) for i in net.bus.index])
    assert np.max(np.abs(ours - expected)) < TOLERANCE_PU
    assert abs(ours).min() == pytest.approx(0.9131, abs=1e-4)  # the published minimum, bus 18


@pytest.mark.parametrize("closed", [False, True])
def test_cigre_mv_matches_pandapower(closed) -> None:
    """CIGRE MV (transformers with 30 degree shift, cables, both open and meshed)."""
    net = networks.create_cigre_network_mv(with_der="pv_wind")
    net.switch.loc[:, "closed"] = net.switch.closed | closed
    expected = pandapower_voltages(net)
    grid = from_pandapower(net)
    result = power_flow(grid)
    assert result.method == ("newton" if closed else "sweep")
    ours = np.array([result.voltage_of(str(i)) for i in net.bus.index])
    assert np.max(np.abs(ours - expected)) < TOLERANCE_PU
    for index in net.line.index[:5]:
        expected_ka = net.res_line.i_from_ka[index]
        assert abs(result.current_of(f"line{index}")) / 1e3 == pytest.approx(expected_ka, rel=1e-3)


def test_the_typed_cigre_mv_case_matches_pandapower() -> None:
    """Our typed-in CIGRE MV case (ties open, no DER) against pandapower's network."""
    net = networks.create_cigre_network_mv(with_der=False)
    expected = pandapower_voltages(net)
    grid = cigre_mv()
    result = power_flow(grid)
    ours = np.array([result.voltage_of(str(i)) for i in net.bus.index])
    assert np.max(np.abs(ours - expected)) < 1e-7  # the two solvers' tolerances; a typo is 1e-4
    for index, row in net.line.iterrows():
        line = grid.line(f"L{row.from_bus}-{row.to_bus}")
        assert line.length_km == row.length_km
        assert (line.r1_ohm_per_km, line.x1_ohm_per_km) == (row.r_ohm_per_km, row.x_ohm_per_km)
        assert line.ampacity_a == pytest.approx(1e3 * row.max_i_ka)
        expected_ka = net.res_line.i_from_ka[index]
        assert abs(result.current_of(line.id)) / 1e3 == pytest.approx(
            expected_ka, rel=1e-5, abs=1e-6
        )
    loads = {load.id: (load.bus, load.p_kw, load.q_kvar) for load in grid.loads}
    assert loads == {  # the powers typed to the watt and var
        row["name"].removeprefix("Load "): (
            str(row.bus),
            pytest.approx(1e3 * row.p_mw, abs=1e-3),
            pytest.approx(1e3 * row.q_mvar, abs=1e-3),
        )
        for _, row in net.load.iterrows()
    }


def test_sweep_and_newton_agree_on_radial_grids() -> None:
    grid = ieee33()
    sweep, newton = power_flow(grid, method="sweep"), power_flow(grid, method="newton")
    assert np.max(np.abs(sweep.voltage - newton.voltage)) < 1e-9
    assert np.max(np.abs(sweep.current - newton.current)) < 1e-6


def test_transformer_shift_and_open_ended_cable() -> None:
    grid = Grid(
        name="shift",
        buses=[Bus("A", 22.0), Bus("B", 0.4), Bus("C", 22.0)],
        lines=[Line("L", "A", "C", 5.0, 0.1, 0.1, 300.0, 0.4, 0.1, 300.0)],
        transformers=[Transformer("T", "A", "B", 0.4, 22.0, 0.4, 6.0, 1.0, "Dyn11")],
        sources=[Source("G", "A", 100.0)],
    )
    result = power_flow(grid)
    # No load: the low side leads by 30 degrees (Dyn11), the open cable end rises (Ferranti).
    assert np.degrees(np.angle(result.voltage_of("B"))) == pytest.approx(30.0, abs=1e-9)
    assert abs(result.voltage_of("C")) > 1.0
    charging = 2 * np.pi * 50 * 300e-9 * 5.0 * 22e3 / np.sqrt(3)
    assert abs(result.current_of("L", "A")) == pytest.approx(charging, rel=1e-3)


def test_errors() -> None:
    grid = ieee33()
    with pytest.raises(InvalidInputError, match="needs radial islands"):
        power_flow(grid, {"T8-21": True}, method="sweep")
    with pytest.raises(InvalidInputError, match="method must be"):
        power_flow(grid, method="gauss")  # type: ignore[arg-type]
    heavy = grid.with_elements(
        loads=[Load(d.id, d.bus, d.p_kw * 20, d.q_kvar * 20) for d in grid.loads]
    )
    for method in ("sweep", "newton"):
        with pytest.raises(ConvergenceError, match="did not converge"):
            power_flow(heavy, method=method)


def test_from_pandapower_carries_measurements_and_defaults() -> None:
    net = networks.create_cigre_network_mv(with_der=False)
    pp.create_measurement(net, "v", "bus", 1.02, 0.01, element=3)
    pp.create_measurement(net, "p", "line", 0.5, 0.02, element=2, side="from")
    pp.create_measurement(net, "i", "trafo", 0.1, 0.001, element=0, side="lv")
    pp.create_measurement(net, "q", "bus", 0.3, 0.01, element=4)
    grid = from_pandapower(net)
    v, p, i, q = grid.measurements
    # A bus power is consumption in pandapower and an injection here.
    assert (q.element, q.value, q.std_dev) == ("4", -300.0, 10.0)
    assert (v.quantity, v.element, v.value, v.side) == ("v", "3", 1.02, None)
    assert (p.element, p.value, p.std_dev, p.side) == ("line2", 500.0, 20.0, "3")
    assert (i.element, i.value, i.side) == ("trafo0", 100.0, "1")
    line = grid.line("line0")
    assert line.r0_ohm_per_km == pytest.approx(3 * line.r1_ohm_per_km)
    assert line.c0_nf_per_km == line.c1_nf_per_km
    assert grid.transformer("trafo0").vector_group == "Dyn1"
    assert grid.source("ext_grid0").sk_mva == 5000.0
