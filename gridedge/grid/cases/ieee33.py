"""The IEEE 33-bus distribution feeder (Baran and Wu, IEEE Trans. Power Delivery 4(2), 1989).

A 12.66 kV radial feeder of 32 sections, 33 buses and 5 normally-open tie lines, with the
published branch impedances (ohm) and loads (kW, kvar) typed in here. Bus ids are the
paper's numbers, ``"1"`` (substation) to ``"33"``; line ids ``"L<from>-<to>"``; the tie
lines carry a normally-open, remotely operable switch ``"T<from>-<to>"`` at their from end.

The published case has no zero-sequence or short-circuit data. For fault studies this
module assumes overhead lines with Z0 = 3 Z1 (the default of
:data:`gridedge.grid.pandapower_net.ZERO_SEQUENCE_RATIO`), no shunt capacitance, and a
substation short-circuit power of :data:`SOURCE_SK_MVA`.
"""

from gridedge.grid.model import Bus, Grid, Line, Load, Source, Switch
from gridedge.grid.pandapower_net import ZERO_SEQUENCE_RATIO

KV = 12.66
"""Nominal voltage, kV."""

SOURCE_SK_MVA = 100.0
"""Assumed short-circuit power at the substation, MVA."""

# (from, to, R ohm, X ohm) of the 32 feeder sections.
SECTIONS = (
    (1, 2, 0.0922, 0.0470), (2, 3, 0.4930, 0.2511), (3, 4, 0.3660, 0.1864),
    (4, 5, 0.3811, 0.1941), (5, 6, 0.8190, 0.7070), (6, 7, 0.1872, 0.6188),
    (7, 8, 0.7114, 0.2351), (8, 9, 1.0300, 0.7400), (9, 10, 1.0440, 0.7400),
    (10, 11, 0.1966, 0.0650), (11, 12, 0.3744, 0.1238), (12, 13, 1.4680, 1.1550),
    (13, 14, 0.5416, 0.7129), (14, 15, 0.5910, 0.5260), (15, 16, 0.7463, 0.5450),
    (16, 17, 1.2890, 1.7210), (17, 18, 0.7320, 0.5740), (2, 19, 0.1640, 0.1565),
    (19, 20, 1.5042, 1.3554), (20, 21, 0.4095, 0.4784), (21, 22, 0.7089, 0.9373),
    (3, 23, 0.4512, 0.3083), (23, 24, 0.8980, 0.7091), (24, 25, 0.8960, 0.7011),
    (6, 26, 0.2030, 0.1034), (26, 27, 0.2842, 0.1447), (27, 28, 1.0590, 0.9337),
    (28, 29, 0.8042, 0.7006), (29, 30, 0.5075, 0.2585), (30, 31, 0.9744, 0.9630),
    (31, 32, 0.3105, 0.3619), (32, 33, 0.3410, 0.5302),
)  # fmt: skip

# (from, to, R ohm, X ohm) of the 5 tie lines.
TIES = (
    (8, 21, 2.0, 2.0), (9, 15, 2.0, 2.0), (12, 22, 2.0, 2.0), (18, 33, 0.5, 0.5),
    (25, 29, 0.5, 0.5),
)  # fmt: skip

# (bus, P kW, Q kvar) of the 32 loads (3715 kW and 2300 kvar in all).
LOADS = (
    (2, 100, 60), (3, 90, 40), (4, 120, 80), (5, 60, 30), (6, 60, 20), (7, 200, 100),
    (8, 200, 100), (9, 60, 20), (10, 60, 20), (11, 45, 30), (12, 60, 35), (13, 60, 35),
    (14, 120, 80), (15, 60, 10), (16, 60, 20), (17, 60, 20), (18, 90, 40), (19, 90, 40),
    (20, 90, 40), (21, 90, 40), (22, 90, 40), (23, 90, 50), (24, 420, 200), (25, 420, 200),
    (26, 60, 25), (27, 60, 25), (28, 60, 20), (29, 120, 70), (30, 200, 600), (31, 150, 70),
    (32, 210, 100), (33, 60, 40),
)  # fmt: skip


def _line(a: int, b: int, r: float, x: float) -> Line:
    # Impedances are per section: a 1 km length keeps ohm/km equal to ohm.
    return Line(
        id=f"L{a}-{b}",
        from_bus=str(a),
        to_bus=str(b),
        length_km=1.0,
        r1_ohm_per_km=r,
        x1_ohm_per_km=x,
        c1_nf_per_km=0.0,
        r0_ohm_per_km=ZERO_SEQUENCE_RATIO * r,
        x0_ohm_per_km=ZERO_SEQUENCE_RATIO * x,
        c0_nf_per_km=0.0,
    )


def ieee33() -> Grid:
    """Return the IEEE 33-bus feeder with its tie switches open."""
    return Grid(
        name="IEEE 33-bus",
        buses=tuple(Bus(str(i), KV) for i in range(1, 34)),
        lines=tuple(_line(*s) for s in SECTIONS + TIES),
        switches=tuple(
            Switch(
                id=f"T{a}-{b}",
                bus=str(a),
                branch=f"L{a}-{b}",
                closed=False,
                normally_closed=False,
                remote=True,
            )
            for a, b, _, _ in TIES
        ),
        loads=tuple(Load(f"D{bus}", str(bus), float(p), float(q)) for bus, p, q in LOADS),
        sources=(Source("substation", "1", SOURCE_SK_MVA),),
    )
