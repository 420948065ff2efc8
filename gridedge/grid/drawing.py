"""Draw a grid as a self-contained SVG (no plotting library needed).

Buses sit at their ``xy`` coordinates (a layered layout by distance from the sources when a
bus has none). Lines are strokes, thicker for higher voltage; transformers are two
overlapping rings; switches are squares at the line end they sit on, filled when closed and
hollow when open; sources are circles with a tilde; meters are labelled diamonds. Buses of
voltage levels below `label_kv` are not labelled, so LV grids stay readable.
"""

import html
import math
from collections.abc import Mapping

from gridedge.grid import topology
from gridedge.grid.model import Grid

_COLOURS = ((100.0, "#7b3294"), (1.0, "#0571b0"), (0.0, "#4dac26"))
"""Stroke colour by nominal voltage (the first whose threshold the bus exceeds)."""


def _colour(kv: float) -> str:
    return next(colour for threshold, colour in _COLOURS if kv > threshold)


def layout(grid: Grid) -> dict[str, tuple[float, float]]:
    """Return drawing coordinates of every bus: its ``xy``, else a tree layout.

    Buses without ``xy`` are laid out along the grid's closed connections from the sources:
    x is the number of branches from the source, each branch of the tree continues its
    parent's row and side branches open new rows below.
    """
    positions: dict[str, tuple[float, float]] = {
        bus.id: bus.xy for bus in grid.buses if bus.xy is not None
    }
    if len(positions) == len(grid.buses):
        return positions
    adjacency = topology.of(grid).adjacency
    row = 0
    for start in [s.bus for s in grid.sources] + list(grid.bus_ids):
        if start in positions:
            continue
        stack = [(start, 0)]
        while stack:
            bus, depth = stack.pop()
            if bus in positions:
                continue
            positions[bus] = (float(depth), -float(row))
            children = [n for n, _ in adjacency[bus] if n not in positions]
            if not children:
                row += 1
            stack += [(child, depth + 1) for child in reversed(children)]
    return positions


def to_svg(
    grid: Grid,
    switch_states: Mapping[str, bool] | None = None,
    *,
    width: int = 1200,
    label_kv: float = 1.0,
) -> str:
    """Return an SVG drawing of `grid` with `switch_states` applied.

    Parameters
    ----------
    grid : Grid
    switch_states : mapping of str to bool, optional
        Overrides of the grid's switch states; de-energised parts are drawn dashed.
    width : int
        Width of the picture, px; the height follows the coordinates' aspect ratio.
    label_kv : float
        Buses at or below this nominal voltage (kV) are not labelled.
    """
    topo = topology.of(grid, switch_states)
    live = topo.energised_buses
    positions = layout(grid)
    xs = [p[0] for p in positions.values()]
    ys = [p[1] for p in positions.values()]
    span = max(max(xs) - min(xs), max(ys) - min(ys), 1e-9)
    margin = 60
    scale = (width - 2 * margin) / max(max(xs) - min(xs), span * 0.2)
    height = int((max(ys) - min(ys)) * scale + 2 * margin)

    def at(bus: str) -> tuple[float, float]:
        x, y = positions[bus]
        return margin + (x - min(xs)) * scale, margin + (max(ys) - y) * scale

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">',
        f"<title>{html.escape(grid.name)}</title>",
        f'<rect width="{width}" height="{height}" fill="white"/>',
    ]
    for line in grid.lines:
        (x1, y1), (x2, y2) = at(line.from_bus), at(line.to_bus)
        kv = grid.bus(line.from_bus).kv
        dead = line.id not in topo.closed_branches or line.from_bus not in live
        dash = ' stroke-dasharray="6 4"' if dead else ""
        stroke = 3.0 if kv > label_kv else 1.2
        parts.append(
            f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" '
            f'stroke="{_colour(kv)}" stroke-width="{stroke}"{dash}>'
            f"<title>{html.escape(line.id)}</title></line>"
        )
    for transformer in grid.transformers:
        (x1, y1), (x2, y2) = at(transformer.hv_bus), at(transformer.lv_bus)
        parts.append(
            f"<g><title>{html.escape(transformer.id)} ({html.escape(transformer.vector_group)})"
            f'</title><line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" '
            'stroke="#555" stroke-width="1.5"/>'
        )
        mx, my = (x1 + x2) / 2, (y1 + y2) / 2
        angle = math.atan2(y2 - y1, x2 - x1)
        for sign, kv in ((-1, transformer.hv_kv), (1, transformer.lv_kv)):
            cx, cy = mx + sign * 4 * math.cos(angle), my + sign * 4 * math.sin(angle)
            parts.append(
                f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="6" fill="none" '
                f'stroke="{_colour(kv)}" stroke-width="1.5"/>'
            )
        parts.append("</g>")
    for switch in grid.switches:
        x, y = at(switch.bus)
        other = switch.to_bus or next(
            b
            for b in grid.branch(switch.branch).buses
            if b != switch.bus  # type: ignore[arg-type]
        )
        ox, oy = at(other)
        length = math.hypot(ox - x, oy - y) or 1.0
        sx, sy = x + (ox - x) / length * 12, y + (oy - y) / length * 12
        closed = topo.states[switch.id]
        fill = "#222" if closed else "white"
        parts.append(
            f'<rect x="{sx - 4:.1f}" y="{sy - 4:.1f}" width="8" height="8" fill="{fill}" '
            f'stroke="#222" stroke-width="1.2"><title>{html.escape(switch.id)} '
            f"({'closed' if closed else 'open'})</title></rect>"
        )
    for bus in grid.buses:
        x, y = at(bus.id)
        radius = 3.5 if bus.kv > label_kv else 1.2
        parts.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{radius}" fill="{_colour(bus.kv)}">'
            f"<title>{html.escape(bus.id)}</title></circle>"
        )
        if bus.kv > label_kv:
            parts.append(f'<text x="{x + 6:.1f}" y="{y - 8:.1f}">{html.escape(bus.id)}</text>')
    for source in grid.sources:
        x, y = at(source.bus)
        parts.append(
            f'<circle cx="{x - 22:.1f}" cy="{y:.1f}" r="10" fill="white" stroke="#222"/>'
            f'<text x="{x - 22:.1f}" y="{y + 4:.1f}" text-anchor="middle" font-size="14">~</text>'
            f'<line x1="{x - 12:.1f}" y1="{y:.1f}" x2="{x:.1f}" y2="{y:.1f}" stroke="#222"/>'
        )
    for meter in grid.meters:
        x, y = at(meter.bus)
        parts.append(
            f'<path d="M {x:.1f} {y - 16:.1f} l 6 6 l -6 6 l -6 -6 z" fill="#e66101">'
            f"<title>{html.escape(meter.id)}: {html.escape(meter.name)}</title></path>"
            f'<text x="{x - 8:.1f}" y="{y - 18:.1f}" fill="#e66101" font-weight="bold" '
            'text-anchor="end">'
            f"{html.escape(meter.id)}</text>"
        )
    legend = [
        ("#7b3294", "HV"),
        ("#0571b0", "MV"),
        ("#4dac26", "LV"),
        ("#e66101", "meter"),
    ]
    for i, (colour, text) in enumerate(legend):
        parts.append(
            f'<rect x="{margin + 70 * i}" y="{height - 25}" width="12" height="12" '
            f'fill="{colour}"/><text x="{margin + 70 * i + 16}" y="{height - 15}">{text}</text>'
        )
    parts.append(
        f'<text x="{margin + 300}" y="{height - 15}">switch: filled closed, hollow open; '
        "dashed: open or de-energised</text>"
    )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
