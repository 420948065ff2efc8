"""The CIGRE medium-voltage benchmark network (CIGRE Task Force C6.04.02, 2014), without DER.

Two 20 kV feeders, each fed by its own 25 MVA 110/20 kV transformer: feeder 1 (buses 1 to 11)
of cables, 14.7 km of them, in a ring opened by switches S2 (bus 7) and S3 (bus 4); feeder 2
(buses 12 to 14) of overhead lines, 7.9 km; the two joined by the line 14-8 opened by S1 (at
bus 8). Residential and commercial loads at the buses; those at buses 1 and 12 stand for the
rest of each substation's load. Unlike the IEEE 33-bus feeder, the benchmark gives every line
its length and its type, so that fault location's metres are real ones.

Data, typed in here as pandapower's ``create_cigre_network_mv(with_der=False)`` has them (the
tests check the two against each other), with the defaults of
:func:`gridedge.grid.from_pandapower` where the benchmark is silent:

- lines: cable r 0.501, x 0.716 ohm/km, c 151.1749 nF/km, 145 A; overhead line r 0.510,
  x 0.366 ohm/km, c 10.09679 nF/km, 195 A. Zero sequence assumed: R0 = 3 R1, X0 = 3 X1
  (:data:`gridedge.grid.pandapower_net.ZERO_SEQUENCE_RATIO`), C0 = C1;
- transformers: 25 MVA, uk 12.00107 %, ukr 0.16 %, shift 30 degrees, wound Dyn1 with the 20 kV
  star point solidly earthed (an assumption, as for the Turin case, so that earth faults draw
  current);
- 110 kV network: 5000 MVA short-circuit power, R/X 0.1, at 1.03 p.u.

Meters, our plan (the benchmark has none): a feeder-head meter at bus 1 on the line to bus 2
(``HEAD1``) and at bus 12 on the line to bus 13 (``HEAD2``), and a voltage-only meter
``V<bus>`` at every bus with a substation's load along the feeders (3 to 11, 13, 14). The head
meters' current sensors are rated :data:`HEAD_SENSOR_A`, not the cables' 145 A: their full
scale, 25 times their rating, then holds the largest fault current at the busbar (5.8 kA)
with its DC offset, where 25 times 145 A would clip every fault on the first kilometres.
"""

from gridedge.grid.model import Bus, Grid, Line, Load, Meter, Source, Switch, Transformer
from gridedge.grid.pandapower_net import ZERO_SEQUENCE_RATIO

MV_KV, HV_KV = 20.0, 110.0

HEAD_SENSOR_A = 500.0
"""Rated primary current of the head meters' current sensors (a 500/1 A CT), A."""

CABLE = (0.501, 0.716, 151.1749, 145.0)
OVERHEAD = (0.510, 0.366, 10.09679, 195.0)
"""r1, x1 (ohm/km), c1 (nF/km) and ampacity (A) of the benchmark's two line types."""

# (from, to, km, type) of the lines, ties last.
LINES = (
    (1, 2, 2.82, CABLE), (2, 3, 4.42, CABLE), (3, 4, 0.61, CABLE), (4, 5, 0.56, CABLE),
    (5, 6, 1.54, CABLE), (7, 8, 1.67, CABLE), (8, 9, 0.32, CABLE), (9, 10, 0.77, CABLE),
    (10, 11, 0.33, CABLE), (3, 8, 1.30, CABLE), (12, 13, 4.89, OVERHEAD),
    (13, 14, 2.99, OVERHEAD), (6, 7, 0.24, CABLE), (11, 4, 0.49, CABLE), (14, 8, 2.00, OVERHEAD),
)  # fmt: skip

# (switch, bus, line, closed) of the load-break switches at the ties' ends.
SWITCHES = (
    ("S2", 7, "L6-7", False), ("LBS6", 6, "L6-7", True),
    ("S3", 4, "L11-4", False), ("LBS11", 11, "L11-4", True),
    ("S1", 8, "L14-8", False), ("LBS14", 14, "L14-8", True),
)  # fmt: skip

# (name, bus, P kW, Q kvar) of the residential (R) and commercial-industrial (CI) loads.
LOADS = (
    ("R1", 1, 14994.0, 3044.662), ("R3", 3, 276.45, 69.285), ("R4", 4, 431.65, 108.182),
    ("R5", 5, 727.5, 182.329), ("R6", 6, 548.05, 137.354), ("R8", 8, 586.85, 147.078),
    ("R10", 10, 475.3, 119.121), ("R11", 11, 329.8, 82.656), ("R12", 12, 14994.0, 3044.662),
    ("R14", 14, 208.55, 52.268), ("CI1", 1, 4845.0, 1592.474), ("CI3", 3, 225.25, 139.597),
    ("CI7", 7, 76.5, 47.41), ("CI9", 9, 573.75, 355.578), ("CI10", 10, 68.0, 42.143),
    ("CI12", 12, 5016.0, 1648.679), ("CI13", 13, 34.0, 21.071), ("CI14", 14, 331.5, 205.445),
)  # fmt: skip

VOLTAGE_METERS = (3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14)
"""Buses with a voltage-only meter: every substation along the feeders."""


def _line(a: int, b: int, km: float, kind: tuple[float, float, float, float]) -> Line:
    r, x, c, ampacity = kind
    return Line(
        id=f"L{a}-{b}",
        from_bus=str(a),
        to_bus=str(b),
        length_km=km,
        r1_ohm_per_km=r,
        x1_ohm_per_km=x,
        c1_nf_per_km=c,
        r0_ohm_per_km=ZERO_SEQUENCE_RATIO * r,
        x0_ohm_per_km=ZERO_SEQUENCE_RATIO * x,
        c0_nf_per_km=c,
        ampacity_a=ampacity,
    )


def _transformer(lv: int) -> Transformer:
    return Transformer(
        id=f"T0-{lv}",
        hv_bus="0",
        lv_bus=str(lv),
        sn_mva=25.0,
        hv_kv=HV_KV,
        lv_kv=MV_KV,
        uk_percent=12.00107,
        ukr_percent=0.16,
        vector_group="Dyn1",
    )


def cigre_mv() -> Grid:
    """Return the CIGRE MV benchmark network with its ties open and the meters above."""
    meters = [
        Meter("HEAD1", "1", branch="L1-2", current_rating_a=HEAD_SENSOR_A, name="feeder 1 head"),
        Meter("HEAD2", "12", branch="L12-13", current_rating_a=HEAD_SENSOR_A, name="feeder 2 head"),
    ]
    meters += [
        Meter(f"V{bus}", str(bus), channels=("Va", "Vb", "Vc"), name=f"substation at bus {bus}")
        for bus in VOLTAGE_METERS
    ]
    return Grid(
        name="CIGRE MV",
        buses=(Bus("0", HV_KV), *(Bus(str(i), MV_KV) for i in range(1, 15))),
        lines=tuple(_line(*line) for line in LINES),
        transformers=(_transformer(1), _transformer(12)),
        switches=tuple(
            Switch(
                id=name,
                bus=str(bus),
                branch=line,
                closed=closed,
                normally_closed=closed,
                remote=True,
            )
            for name, bus, line, closed in SWITCHES
        ),
        loads=tuple(Load(name, str(bus), p, q) for name, bus, p, q in LOADS),
        sources=(Source("grid", "0", 5000.0, rx_ratio=0.1, vm_pu=1.03),),
        meters=tuple(meters),
    )
