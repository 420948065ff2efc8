"""The Turin test case of the paper (Orlando et al. 2022, section V, Fig. 7 and Table II).

Structure, as the paper gives it
    Two HV/MV primary substations (220 kV / 22 kV) each feeding one radial MV feeder;
    twelve MV/LV secondary substations (22 kV / 0.4 kV), 220 m apart; the two feeders joined
    by one normally-open tie; remotely controlled switches; a residential LV grid under every
    secondary substation; 14 meters, M1 at a primary-substation feeder head and M2 at a
    secondary substation.

Our reading of what the paper leaves open
    - Each feeder is a chain of six secondary substations, 220 m from its primary substation
      and from each other; the tie (also 220 m) joins the two last ones, SS06 and SS12, with
      its switch open at SS06 (the classic Italian open ring).
    - Every MV line has a remotely operated switch at both ends (ring-main units in the
      secondary substations, the feeder circuit breakers at the primary substations).
    - The 14 meters: one at each feeder head (M1 on feeder 1, M3 on feeder 2, at the MV
      busbar, measuring the first line) and one on the MV side of every secondary substation
      transformer (M2 at SS03; M4 to M14 at the others, in order).
    - Each secondary substation feeds two to four LV feeders of 10 to 40 customers, one
      service connection every 20 m; each customer is a balanced three-phase load of 0.8 to
      2.2 kW at power factor 0.95 (a fixed pseudo-random draw, so the case is reproducible).

Data, typed in here with their sources
    - MV cable: pandapower's standard type "NA2XS2Y 1x240 RM/25 12/20 kV" (Al XLPE,
      r 0.122 ohm/km, x 0.112 ohm/km, c 304 nF/km, 421 A). Zero sequence: the current
      returns through the 25 mm2 copper screens, R0 = R1 + 3 R_screen with R_screen =
      0.727 ohm/km (IEC 60228, class 2 copper, 25 mm2, 20 degC); X0 = X1 (an approximation:
      the screen sits close to the core); C0 = C1 (screened single-core cables have a radial
      field).
    - LV cable: pandapower's "NAYY 4x150 SE" (r 0.208 ohm/km, x 0.080 ohm/km, c 261 nF/km,
      270 A). Zero sequence: return in the fourth core of equal section, R0 = 4 R1; X0 = 4 X1
      and C0 = C1 are approximations.
    - Secondary transformers: the impedances of pandapower's "0.4 MVA 20/0.4 kV" (vk 6 %,
      vkr 1.425 %, pfe 1.35 kW, i0 0.3375 %), wound 22/0.4 kV and Dyn11 as usual in Italy.
    - Primary transformers: the impedances of pandapower's "40 MVA 110/20 kV" (vk 16.2 %,
      vkr 0.34 %, pfe 18 kW, i0 0.05 %), wound 220/22 kV, YNyn0 with both star points solidly
      earthed (an assumption, so that earth faults on the MV draw current).
    - 220 kV network: 8 GVA short-circuit power, R/X 0.1, X0/X1 1 (assumed).
"""

import math

import numpy as np

from gridedge.grid.model import Bus, Grid, Line, Load, Meter, Source, Switch, Transformer

SPACING_KM = 0.22
"""Distance between MV nodes (Table II)."""

MV_KV, LV_KV, HV_KV = 22.0, 0.4, 220.0

MV_CABLE = {
    "r1_ohm_per_km": 0.122,
    "x1_ohm_per_km": 0.112,
    "c1_nf_per_km": 304.0,
    "r0_ohm_per_km": 0.122 + 3 * 0.727,
    "x0_ohm_per_km": 0.112,
    "c0_nf_per_km": 304.0,
    "ampacity_a": 421.0,
}
"""NA2XS2Y 1x240 RM/25 12/20 kV with its zero sequence (see the module docstring)."""

LV_CABLE = {
    "r1_ohm_per_km": 0.208,
    "x1_ohm_per_km": 0.080,
    "c1_nf_per_km": 261.0,
    "r0_ohm_per_km": 4 * 0.208,
    "x0_ohm_per_km": 4 * 0.080,
    "c0_nf_per_km": 261.0,
    "ampacity_a": 270.0,
}
"""NAYY 4x150 SE with its zero sequence (see the module docstring)."""

LV_SPACING_KM = 0.02
"""Distance between service connections along an LV feeder."""

LV_FEEDERS = (
    (12, 24, 36),
    (10, 20, 30, 15),
    (16, 32),
    (25, 18, 11),
    (40, 22),
    (14, 28, 19, 10),
    (33, 17, 26),
    (21, 38),
    (13, 27, 35),
    (18, 24, 12, 30),
    (36, 15),
    (11, 29, 23),
)
"""Customers on each LV feeder of each secondary substation SS01 to SS12."""

CUSTOMER_KW = (0.8, 2.2)
"""Range of the customers' active power, kW."""

POWER_FACTOR = 0.95

SEED = 2022
"""Seed of the draw of the customers' loads."""

FEEDER_Y = 0.6
"""Drawing coordinate of the feeders (km-like units; LV grids are drawn compressed)."""


def turin() -> Grid:
    """Return the Turin test case (see the module docstring for its structure and data)."""
    buses: list[Bus] = []
    lines: list[Line] = []
    transformers: list[Transformer] = []
    switches: list[Switch] = []
    loads: list[Load] = []
    meters: list[Meter] = []
    sources: list[Source] = []
    rng = np.random.default_rng(SEED)
    tan_phi = np.tan(np.arccos(POWER_FACTOR))
    for feeder in (1, 2):
        side = FEEDER_Y if feeder == 1 else -FEEDER_Y
        hv, mv = f"PS{feeder}-HV", f"PS{feeder}-MV"
        buses += [Bus(hv, HV_KV, xy=(-0.35, side)), Bus(mv, MV_KV, xy=(0.0, side))]
        sources.append(Source(f"PS{feeder}", hv, sk_mva=8000.0, rx_ratio=0.1, x0_x1=1.0))
        transformers.append(
            Transformer(
                f"TP{feeder}",
                hv,
                mv,
                40.0,
                HV_KV,
                MV_KV,
                16.2,
                0.34,
                "YNyn0",
                pfe_kw=18.0,
                i0_percent=0.05,
            )
        )
        previous = mv
        for k in range(1, 7):
            number = 6 * (feeder - 1) + k
            station = f"SS{number:02d}"
            x = SPACING_KM * k
            buses.append(Bus(station, MV_KV, xy=(x, side)))
            line_id = f"F{feeder}-{k:02d}"
            lines.append(Line(line_id, previous, station, SPACING_KM, **MV_CABLE))
            switches += [_switch(line_id, previous), _switch(line_id, station)]
            previous = station
            _secondary(station, number, (x, side), rng, tan_phi, buses, lines, transformers, loads)
    lines.append(Line("TIE", "SS06", "SS12", SPACING_KM, **MV_CABLE))
    switches += [_switch("TIE", "SS06", closed=False), _switch("TIE", "SS12")]
    meters += [
        Meter("M1", "PS1-MV", branch="F1-01", name="feeder 1 head (hardware meter)"),
        Meter("M2", "SS03", branch="TS03", name="secondary substation SS03 (hardware meter)"),
        Meter("M3", "PS2-MV", branch="F2-01", name="feeder 2 head"),
    ]
    others = [n for n in range(1, 13) if n != 3]
    meters += [
        Meter(
            f"M{4 + i}", f"SS{n:02d}", branch=f"TS{n:02d}", name=f"secondary substation SS{n:02d}"
        )
        for i, n in enumerate(others)
    ]
    return Grid(
        name="Turin",
        buses=tuple(buses),
        lines=tuple(lines),
        transformers=tuple(transformers),
        switches=tuple(switches),
        loads=tuple(loads),
        sources=tuple(sources),
        meters=tuple(meters),
    )


def _switch(line_id: str, bus: str, closed: bool = True) -> Switch:
    return Switch(
        f"{line_id}@{bus}", bus, branch=line_id, closed=closed, normally_closed=closed, remote=True
    )


def _secondary(
    station: str,
    number: int,
    xy: tuple[float, float],
    rng: np.random.Generator,
    tan_phi: float,
    buses: list[Bus],
    lines: list[Line],
    transformers: list[Transformer],
    loads: list[Load],
) -> None:
    """Add a secondary substation's transformer and LV grid."""
    x, y = xy
    outward = math.copysign(1.0, y)  # LV grids drawn away from the other feeder
    lv = f"{station}-LV"
    buses.append(Bus(lv, LV_KV, xy=(x, y + outward * 0.08)))
    transformers.append(
        Transformer(
            f"TS{number:02d}",
            station,
            lv,
            0.4,
            MV_KV,
            LV_KV,
            6.0,
            1.425,
            "Dyn11",
            pfe_kw=1.35,
            i0_percent=0.3375,
        )
    )
    feeders = LV_FEEDERS[number - 1]
    for j, customers in enumerate(feeders, start=1):
        previous = lv
        offset = (j - (len(feeders) + 1) / 2) * 0.05
        for c in range(1, customers + 1):
            bus = f"{station}-F{j}-{c:02d}"
            buses.append(Bus(bus, LV_KV, xy=(x + offset, y + outward * (0.1 + 0.012 * c))))
            lines.append(Line(bus, previous, bus, LV_SPACING_KM, **LV_CABLE))
            p_kw = float(rng.uniform(*CUSTOMER_KW))
            loads.append(Load(f"D-{bus}", bus, round(p_kw, 3), round(p_kw * tan_phi, 3)))
            previous = bus
