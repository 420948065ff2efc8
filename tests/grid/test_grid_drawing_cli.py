"""The SVG drawing and the ``gridedge grid`` / ``gridedge simulate`` subcommands."""

import xml.etree.ElementTree as ET

import numpy as np

from gridedge.cli import main
from gridedge.grid import load
from gridedge.grid.cases import ieee33, turin
from gridedge.grid.drawing import layout, to_svg

SVG = "{http://www.w3.org/2000/svg}"


def test_turin_drawing_shows_substations_meters_and_the_open_tie() -> None:
    root = ET.fromstring(to_svg(turin()))
    texts = {t.text for t in root.iter(f"{SVG}text")}
    assert {f"SS{n:02d}" for n in range(1, 13)} <= texts
    assert {f"M{n}" for n in range(1, 15)} <= texts
    switches = {
        r.find(f"{SVG}title").text: r.get("fill") for r in root.iter(f"{SVG}rect") if r.find(
            f"{SVG}title"
        ) is not None
    }  # fmt: skip
    assert switches["TIE@SS06 (open)"] == "white"
    assert switches["TIE@SS12 (closed)"] == "#222"


def test_layout_places_buses_without_coordinates() -> None:
    positions = layout(ieee33())
    assert len(positions) == 33
    assert positions["1"] == (0.0, 0.0)
    assert positions["18"] == (17.0, 0.0)  # the main feeder stays on one row
    assert len(set(positions.values())) == 33


def test_grid_and_simulate_commands(tmp_path, capsys) -> None:
    exported = tmp_path / "ieee33.json"
    assert main(["grid", "export", "--case", "ieee33", str(exported)]) == 0
    assert load(exported) == ieee33()
    drawing = tmp_path / "ieee33.svg"
    assert main(["grid", "draw", "--file", str(exported), str(drawing)]) == 0
    assert drawing.read_text().startswith("<svg")
    samples = tmp_path / "fault.npz"
    arguments = ["simulate", "--case", "turin", "--duration", "0.05", str(samples)]
    assert main([*arguments, "--fault", "F1-04:0.37:a-g:1", "--at", "0.01"]) == 0
    with np.load(samples) as data:
        assert data["M1/samples"].shape == (320, 6)
        assert float(data["fs"]) == 6400.0
    assert main([*arguments, "--fault", "F1-04:near:a-g"]) == 2
    assert "must be LINE:FRACTION:KIND:OHM" in capsys.readouterr().err
