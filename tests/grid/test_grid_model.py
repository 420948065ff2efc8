"""The grid model, its JSON format and its validation."""

import json

import pytest

from gridedge.errors import InvalidInputError
from gridedge.grid import (
    Bus,
    Grid,
    Line,
    Load,
    Meter,
    Source,
    Switch,
    Transformer,
    from_dict,
    load,
    save,
    to_dict,
)
from gridedge.grid.cases import ieee33


def cable(line_id: str, a: str, b: str, length_km: float = 0.22) -> Line:
    return Line(line_id, a, b, length_km, 0.122, 0.112, 304.0, 2.3, 0.112, 304.0, 421.0)


def small_grid(**changes: object) -> Grid:
    parts: dict[str, object] = {
        "name": "small",
        "buses": [Bus("HV", 220.0), Bus("A", 22.0), Bus("B", 22.0), Bus("C", 0.4)],
        "lines": [cable("L1", "A", "B")],
        "transformers": [
            Transformer("T1", "HV", "A", 40.0, 220.0, 22.0, 16.2, 0.34, "YNyn0"),
            Transformer("T2", "B", "C", 0.4, 22.0, 0.4, 6.0, 1.425, "Dyn11"),
        ],
        "switches": [Switch("S1", "A", branch="L1", remote=True)],
        "loads": [Load("D1", "C", 100.0, 30.0)],
        "sources": [Source("G", "HV", 8000.0)],
        "meters": [Meter("M1", "A", branch="L1")],
    }
    parts.update(changes)
    return Grid(**parts)  # type: ignore[arg-type]


def test_elements_reject_non_physical_values_naming_element_and_field() -> None:
    with pytest.raises(InvalidInputError, match=r"line 'L9': length_km must be > 0, got -1"):
        cable("L9", "A", "B", length_km=-1)
    with pytest.raises(InvalidInputError, match=r"transformer 'T9': ukr_percent .* below"):
        Transformer("T9", "A", "B", 1.0, 22.0, 0.4, 4.0, 5.0)
    with pytest.raises(InvalidInputError, match=r"vector_group 'Dyx1'"):
        Transformer("T9", "A", "B", 1.0, 22.0, 0.4, 4.0, 1.0, "Dyx1")
    with pytest.raises(InvalidInputError, match=r"needs an odd clock"):
        Transformer("T9", "A", "B", 1.0, 22.0, 0.4, 4.0, 1.0, "Dyn0")
    with pytest.raises(InvalidInputError, match=r"bus 'X': kv must be > 0"):
        Bus("X", 0.0)
    with pytest.raises(InvalidInputError, match=r"source 'G': sk_mva must be a number"):
        Source("G", "HV", "big")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match=r"switch 'S': give exactly one of"):
        Switch("S", "A")
    with pytest.raises(InvalidInputError, match=r"current channels need a branch"):
        Meter("M", "A")


def test_grid_lists_every_bad_reference() -> None:
    with pytest.raises(InvalidInputError) as caught:
        small_grid(
            lines=[cable("L1", "A", "Z"), cable("T1", "A", "B")],
            loads=[Load("D1", "nowhere", 1.0)],
        )
    message = str(caught.value)
    assert "line 'L1': to_bus names unknown bus 'Z'" in message
    assert "transformer 'T1': duplicate id (also line 'T1')" in message
    assert "load 'D1': bus names unknown bus 'nowhere'" in message


def test_grid_rejects_islands_without_source_and_voltage_mismatch() -> None:
    with pytest.raises(InvalidInputError, match=r"island without a source: 'Z'"):
        small_grid(
            buses=[Bus("HV", 220.0), Bus("A", 22.0), Bus("B", 22.0), Bus("C", 0.4), Bus("Z", 22.0)]
        )
    with pytest.raises(InvalidInputError, match=r"joins buses of 22.0 kV and 0.4 kV"):
        small_grid(lines=[cable("L1", "A", "B"), cable("L2", "B", "C")])
    with pytest.raises(InvalidInputError, match=r"bus 'C' is not an end of line 'L1'"):
        small_grid(meters=[Meter("M1", "C", branch="L1")])


def test_lookups_name_the_missing_element() -> None:
    grid = small_grid()
    assert grid.line("L1").length_km == pytest.approx(0.22)
    assert grid.branch("T2").lv_bus == "C"
    with pytest.raises(InvalidInputError, match=r"no line 'L7'"):
        grid.line("L7")
    with pytest.raises(InvalidInputError, match=r"no switch 'S7'"):
        grid.with_switch_states({"S7": False})
    opened = grid.with_switch_states({"S1": False})
    assert opened.switch("S1").closed is False
    assert grid.switch("S1").closed is True


def test_load_profile_scales_loads() -> None:
    grid = small_grid(loads=[Load("D1", "C", 100.0, 30.0, profile=(0.5, 1.0, 2.0))])
    assert grid.at_time(2 * 3600 + 1).load("D1").p_kw == pytest.approx(200.0)
    assert grid.at_time(3 * 3600).load("D1").q_kvar == pytest.approx(15.0)


def test_json_round_trip_is_exact(tmp_path) -> None:
    for grid in (small_grid(), ieee33()):
        document = to_dict(grid)
        assert (document["format"], document["version"]) == ("gridedge.grid", 1)
        assert from_dict(json.loads(json.dumps(document))) == grid
        path = tmp_path / "grid.json"
        save(grid, path)
        assert load(path) == grid


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update(format="other"), r"'format' must be 'gridedge.grid'"),
        (lambda d: d.update(version=7), r"version 7 is not supported"),
        (lambda d: d["lines"][0].update(colour="red"), r"lines\[0\] \('L1'\): unknown fields"),
        (lambda d: d["lines"][0].pop("length_km"), r"lines\[0\] \('L1'\): missing fields"),
        (lambda d: d["buses"][1].update(kv="22"), r"buses\[1\] \('A'\): kv must be a number"),
        (lambda d: d["switches"][0].update(closed=1), r"closed must be true or false"),
        (lambda d: d["loads"][0].update(bus="ghost"), r"load 'D1': bus names unknown bus"),
        (lambda d: d.update(lines={}), r"'lines' must be a list"),
    ],
)
def test_bad_documents_are_rejected_with_the_element_named(mutate, message) -> None:
    document = to_dict(small_grid())
    mutate(document)
    with pytest.raises(InvalidInputError, match=message):
        from_dict(document)


def test_bad_files_are_rejected_with_the_file_named(tmp_path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"format": "gridedge.grid", "version": 1, "buses": [')
    with pytest.raises(InvalidInputError, match=r"broken.json is not valid JSON"):
        load(path)
    path.write_text('{"format": "gridedge.grid", "version": 1, "buses": [{"id": "A", "kv": NaN}]}')
    with pytest.raises(InvalidInputError, match=r"NaN is not a number JSON allows"):
        load(path)
    with pytest.raises(InvalidInputError, match=r"cannot read grid file"):
        load(tmp_path / "missing.json")


def test_save_never_leaves_half_a_file(tmp_path) -> None:
    path = tmp_path / "grid.json"
    save(small_grid(), path)
    before = path.read_text()
    bad = small_grid()
    object.__setattr__(bad, "frequency_hz", float("nan"))
    with pytest.raises(ValueError, match="Out of range float"):
        save(bad, path)
    assert path.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["grid.json"]
