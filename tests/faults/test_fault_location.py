"""Fault location: exact on noise-free phasors, both backends alike, laterals, missing meter
data, bad input, and an independent solution by OpenDSS."""

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from fault_helpers import magnitudes, meter_phasors

from gridedge.errors import FaultLocationError, InvalidInputError
from gridedge.grid import FaultKind, FaultStudy, Meter, fault, power_flow
from gridedge.grid.cases import turin
from gridedge.meter.faults import FeederModel, LocationSettings, locate
from gridedge.meter.faults.accuracy import ieee33_metered

BACKENDS = ("native", "python")
KINDS = ("a-g", "b-c", "b-c-g", "a-b-c")
# Measurement chains good to about a volt and an ampere (what the fault sets carry).
SIGMA = np.ones(6)
# The grid's fault solution balances the currents at a fault inside a line to about 3e-5 of
# the fault current, which moves the resistive point of a 20-ohm fault by decimetres; faults
# solved by OpenDSS locate within centimetres.
TOLERANCE_M = 0.5


@pytest.fixture(scope="module")
def grid():
    return turin()


@pytest.fixture(scope="module", params=BACKENDS)
def feeders(request, grid):
    return {head: FeederModel(grid, head, backend=request.param) for head in ("M1", "M3")}


def sections_of(feeder, line):
    return next(s for s in feeder.sections if s.line == line)


def located(grid, feeder, line, fraction, simulated, resistance, **options):
    """Locate a noise-free fault of kind `simulated` at a fraction of a line (from its from bus)."""
    result = fault(grid, line, fraction, simulated, resistance)
    head = feeder.head_meter.id
    before = meter_phasors(grid, feeder.prefault, head)
    during = meter_phasors(grid, result, head)
    voltages = options.pop("voltages", magnitudes(grid, result, feeder.meters))
    sigmas = {m: np.ones(3) for m in feeder.meters}
    return locate(
        feeder, before, during, voltages, uncertainty=SIGMA, voltage_uncertainty=sigmas, **options
    )


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("head", "line", "fraction", "resistance"),
    [
        ("M1", "F1-03", 0.3, 0.0),
        ("M1", "F1-01", 0.01, 20.0),
        ("M3", "F2-05", 0.77, 10.0),
        ("M3", "TIE", 0.6, 4.0),  # open at SS06: fed from SS12 only
    ],
)
def test_noise_free_faults_are_located_exactly(
    grid, feeders, head, line, fraction, resistance, kind
) -> None:
    feeder = feeders[head]
    result = located(grid, feeder, line, fraction, kind, resistance)
    section = sections_of(feeder, line)
    from_start = fraction if section.from_bus == grid.line(line).from_bus else 1 - fraction
    assert (result.line, result.from_bus, result.to_bus) == (line, section.from_bus, section.to_bus)
    assert result.distance_m == pytest.approx(from_start * section.length_m, abs=TOLERANCE_M)
    assert result.resistance_ohm == pytest.approx(resistance, abs=0.01)
    assert result.kind == FaultKind.parse(kind)
    assert result.candidates[0].line == line
    assert result.meters_missing == ()
    # Even 20 ohm two metres from the head, with every meter downstream: the head's own sag
    # against the meters' tells the first section's ends apart.
    assert not result.ambiguous, result.reasons


@pytest.mark.kernels
def test_backends_agree_on_noisy_phasors(grid) -> None:
    native, twin = (FeederModel(grid, "M1", backend=b) for b in BACKENDS)
    rng = np.random.default_rng(5)
    # Fault and pre-fault sets with their own errors: the reactance row's shares at work.
    sigma = np.stack([SIGMA, 0.5 * SIGMA])
    for kind, line, fraction, resistance in [
        ("a-g", "F1-04", 0.4, 3.0),
        ("b-c", "F1-02", 0.9, 12.0),
        ("b-c-g", "F1-03", 0.6, 7.0),  # two current parts: eight nuisance parameters
        ("a-b-c", "F1-06", 0.2, 0.5),
    ]:
        result = fault(grid, line, fraction, kind, resistance)
        during = meter_phasors(grid, result, "M1") + rng.normal(0, 2, 6) + 1j * rng.normal(0, 2, 6)
        before = meter_phasors(grid, native.prefault, "M1")
        voltages = {
            m: v + rng.normal(0, 3, 3) for m, v in magnitudes(grid, result, native.meters).items()
        }
        one, other = (
            locate(f, before, during, voltages, uncertainty=sigma) for f in (native, twin)
        )
        assert len(one.candidates) == len(other.candidates) > 0
        for a, b in zip(one.candidates, other.candidates, strict=True):
            assert a.line == b.line
            assert a.distance_m == pytest.approx(b.distance_m, abs=1e-3)
            assert a.distance_sigma_m == pytest.approx(b.distance_sigma_m, rel=1e-3)
            assert a.resistance_ohm == pytest.approx(b.resistance_ohm, rel=1e-6, abs=1e-9)
            assert a.score == pytest.approx(b.score, rel=1e-6)
            assert a.mismatch_pu == pytest.approx(b.mismatch_pu, rel=1e-6)


@pytest.mark.kernels
@pytest.mark.parametrize("backend", BACKENDS)
def test_kernels_refuse_malformed_arrays(grid, backend) -> None:
    kernel = FeederModel(grid, "M1", backend=backend).kernel
    m = kernel.meters
    good = {
        "during": np.ones((2, 3), dtype=np.complex128),
        "prefault": np.array([[1, 1, 1], [0, 0, 0]], dtype=np.complex128),
        "phases": 1,
        "earthed": True,
        "measured": np.full((m, 3), np.nan),
        "weight": np.ones((m, 3)),
        "meter_prefault": np.ones(m, dtype=np.complex128),
        "head_weight": np.ones(3),
        "current_weight": np.ones(2),
        "current_share": np.zeros(2),
        "voltage_variance": 0.0,
        "voltage_share": 0.0,
        "source_weight": 1.0,
        "reactance_weight": 1.0,
    }
    kernel.locate(**good)
    for name, bad in [
        ("during", np.ones((3, 2), dtype=np.complex128)),
        ("measured", np.ones((m, 3), dtype=np.float32)),
        ("weight", -np.ones((m, 3))),
        ("phases", 2),  # a single phase without earth
        ("head_weight", np.ones(2)),
        ("current_weight", np.array([1.0, 0.0])),
        ("current_share", np.array([0.5, 1.5])),
        ("source_weight", np.inf),
        ("reactance_weight", 0.0),
    ]:
        arguments = dict(good, **{name: bad})
        if name == "phases":
            arguments["earthed"] = False
        with pytest.raises(ValueError, match=name.split("_")[0]):
            kernel.locate(**arguments)
    arrays = [np.array([-1, 0]), *[np.zeros((2, 3), dtype=np.complex128)] * 4]
    ends = [np.zeros(2, dtype=np.int64), np.full(2, -1, dtype=np.int64)]
    between = np.zeros((2, 3, 4), dtype=np.complex128)
    transfers = [np.zeros(shape, dtype=np.complex128) for shape in ((3, 0, 1), (3, 1), (3, 0))]
    with pytest.raises(ValueError, match="parent"):
        type(kernel)(np.array([0, 0]), *arrays[1:], *ends, between, *transfers, 16, 30)
    with pytest.raises(ValueError, match="from_end and to_end"):
        type(kernel)(
            arrays[0], *arrays[1:], np.full(2, 5, np.int64), ends[1], between, *transfers, 16, 30
        )
    with pytest.raises(ValueError, match="end_impedance"):
        type(kernel)(arrays[0], *arrays[1:], *ends, between[:, :, :3], *transfers, 16, 30)
    with pytest.raises(ValueError, match="head_transfer"):
        type(kernel)(
            arrays[0], *arrays[1:], *ends, between, transfers[0], transfers[2], transfers[2], 16, 30
        )


@pytest.mark.parametrize("backend", BACKENDS)
def test_laterals_are_told_apart_by_the_sparse_voltages(backend) -> None:
    grid = ieee33_metered()
    feeder = FeederModel(grid, "HEAD", backend=backend)
    # Laterals leave buses 2, 3 and 6: faults on each, and on the main feeder beyond.
    for line in ("L2-19", "L20-21", "L3-23", "L24-25", "L6-26", "L29-30", "L7-8", "L14-15"):
        for kind in ("a-g", "b-c"):
            result = located(grid, feeder, line, 0.45, kind, 5.0)
            assert result.line == line, (line, kind, result.reasons)
            assert result.distance_m == pytest.approx(450.0, abs=TOLERANCE_M)
            assert not result.ambiguous, result.reasons
    # Without the voltages, points on several laterals explain the head phasors alike.
    blind = located(grid, feeder, "L26-27", 0.5, "a-g", 2.0, voltages={})
    assert blind.ambiguous
    assert "no meter voltages" in blind.reasons[0]
    assert blind.sections == ()  # places apart: nothing to isolate on this evidence
    assert {c.line for c in blind.candidates} > {"L26-27"}
    assert blind.meters_missing == feeder.meters


def test_missing_meter_data_uses_what_there_is(grid, feeders) -> None:
    feeder = feeders["M1"]
    result = fault(grid, "F1-04", 0.55, "b-c-g", 8.0)
    everything = magnitudes(grid, result, feeder.meters)
    some = {"M6": everything["M6"], "M2": np.array([np.nan, *everything["M2"][1:]])}
    some["M7"] = np.full(3, np.nan)  # reported nothing usable
    located_fault = located(grid, feeder, "F1-04", 0.55, "b-c-g", 8.0, voltages=some)
    assert located_fault.line == "F1-04"
    assert located_fault.distance_m == pytest.approx(0.55 * 220, abs=TOLERANCE_M)
    assert located_fault.meters_used == ("M2", "M6")
    assert set(located_fault.meters_missing) == set(feeder.meters) - {"M2", "M6"}
    blind = located(grid, feeder, "F1-04", 0.55, "b-c-g", 8.0, voltages={})
    assert blind.line == "F1-04"
    assert blind.meters_used == ()


@pytest.mark.parametrize("kind", KINDS)
def test_meters_behind_a_dyn11_transformer_score_with_magnitudes(grid, kind) -> None:
    # A voltage-only meter on the LV busbar of SS04 sees the MV sag shifted by 30 degrees and
    # without its zero sequence; the transfer impedances carry both.
    lv_meter = Meter("LV4", "SS04-LV", channels=("Va", "Vb", "Vc"))
    metered = grid.with_elements(meters=[*grid.meters, lv_meter])
    feeder = FeederModel(metered, "M1")
    result = fault(metered, "F1-04", 0.6, kind, 3.0)
    voltages = magnitudes(metered, result, ["LV4"])
    located_fault = located(metered, feeder, "F1-04", 0.6, kind, 3.0, voltages=voltages)
    assert located_fault.meters_used == ("LV4",)
    assert located_fault.line == "F1-04"
    assert located_fault.distance_m == pytest.approx(0.6 * 220, abs=TOLERANCE_M)
    assert located_fault.candidates[0].mismatch_pu < 1e-5  # of 0.4 kV: predicted to a few mV


def test_measured_prefault_voltages_replace_the_model_ones(grid) -> None:
    # The source holds 1.03 p.u. while the feeder model was built at 1.0 p.u.
    raised = grid.with_elements(sources=[replace(s, vm_pu=1.03) for s in grid.sources])
    actual = power_flow(raised)
    result = fault(raised, "F1-05", 0.3, "a-g", 6.0)
    feeder = FeederModel(grid, "M1")
    before, during = meter_phasors(raised, actual, "M1"), meter_phasors(raised, result, "M1")
    voltages = magnitudes(raised, result, feeder.meters)
    measured_before = {
        m: abs(actual.voltage_of(grid.meter(m).bus)) * 22e3 / np.sqrt(3) for m in feeder.meters
    }
    plain = locate(feeder, before, during, voltages, uncertainty=SIGMA)
    informed = locate(
        feeder, before, during, voltages, uncertainty=SIGMA, prefault_voltages=measured_before
    )
    assert informed.line == "F1-05"
    assert informed.distance_m == pytest.approx(0.3 * 220, abs=TOLERANCE_M)
    assert informed.candidates[0].mismatch_pu < plain.candidates[0].mismatch_pu / 10


def test_a_fault_at_a_bus_is_said_to_be_on_either_side(grid, feeders) -> None:
    # 0.4 m into F1-03: the measurements place it at SS02, which F1-02 also ends at. Which
    # section holds it is then a guess, and the result says so - and that isolating both
    # isolates it.
    result = located(grid, feeders["M1"], "F1-03", 0.002, "b-c", 5.0)
    assert result.line in ("F1-02", "F1-03")
    assert result.ambiguous
    assert any("at bus SS02" in r and "either side" in r for r in result.reasons), result.reasons
    assert sorted(result.sections) == ["F1-02", "F1-03"]
    assert result.sections[0] == result.line
    # 11 m into it, the head's sag and the meters' tell the side.
    result = located(grid, feeders["M1"], "F1-03", 0.05, "b-c", 5.0)
    assert result.line == "F1-03"
    assert not result.ambiguous, result.reasons
    assert result.sections == ("F1-03",)


def test_a_fault_kind_that_does_not_fit_is_flagged(grid, feeders) -> None:
    # Earth named for a fault without: located, but said not to fit.
    result = located(grid, feeders["M1"], "F1-02", 0.5, "b-c", 2.0, kind="b-c-g")
    assert result.ambiguous
    assert any("b-c-g was given but the phasors look like b-c" in r for r in result.reasons)
    assert result.sections == ()
    # Phase a carries no fault current: no point explains an a-g fault - or, should rounding
    # leave one, the result says the kind does not fit.
    try:
        result = located(grid, feeders["M1"], "F1-02", 0.5, "b-c", 2.0, kind="a-g")
    except FaultLocationError:
        return
    assert result.ambiguous
    assert any("a-g was given but the phasors look like b-c" in r for r in result.reasons)


def test_a_fault_on_another_feeder_is_not_located_confidently(grid, feeders) -> None:
    result = fault(grid, "F2-03", 0.5, "a-b-c", 0.0)
    head_two = meter_phasors(grid, result, "M3")
    before = meter_phasors(grid, feeders["M3"].prefault, "M3")
    voltages = magnitudes(grid, result, feeders["M1"].meters)
    # Feeder 2's head phasors handed to feeder 1's model: feeder 1's meters saw no sag.
    try:
        wrong = locate(feeders["M1"], before, head_two, voltages, uncertainty=SIGMA)
    except FaultLocationError:
        return
    assert wrong.ambiguous
    assert any("explains the measurements poorly" in r for r in wrong.reasons)
    assert wrong.sections == ()


def test_bad_phasors_and_meter_data_raise_clear_errors(grid, feeders) -> None:
    feeder = feeders["M1"]
    result = fault(grid, "F1-02", 0.5, "a-g", 1.0)
    before = meter_phasors(grid, feeder.prefault, "M1")
    during = meter_phasors(grid, result, "M1")
    broken = during.copy()
    broken[4] = np.nan
    with pytest.raises(InvalidInputError, match="fault: channel\\(s\\) Ib are not finite"):
        locate(feeder, before, broken)
    with pytest.raises(InvalidInputError, match="prefault must hold 6 complex phasors"):
        locate(feeder, before[:5], during)
    with pytest.raises(InvalidInputError, match="show no fault"):
        locate(feeder, before, before)
    with pytest.raises(InvalidInputError, match="no meter 'M99'"):
        locate(feeder, before, during, {"M99": np.ones(3)})
    with pytest.raises(InvalidInputError, match="three phase values"):
        locate(feeder, before, during, {"M2": np.ones(2)})
    with pytest.raises(InvalidInputError, match="uncertainty must hold 6"):
        locate(feeder, before, during, uncertainty=-SIGMA)
    with pytest.raises(InvalidInputError, match="fault kind 'a-x'"):
        locate(feeder, before, during, kind="a-x")


def test_head_meters_that_cannot_head_a_feeder_are_refused(grid) -> None:
    with pytest.raises(InvalidInputError, match="no meter 'M99'"):
        FeederModel(grid, "M99")
    with pytest.raises(InvalidInputError, match="measures transformer 'TS03'"):
        FeederModel(grid, "M2")
    with pytest.raises(InvalidInputError, match="not closed at both ends"):
        FeederModel(grid, "M1", {"F1-01@SS01": False})
    with pytest.raises(InvalidInputError, match="must measure"):
        FeederModel(ieee33_metered(), "V18")
    with pytest.raises(InvalidInputError, match=r"source\(s\) \['PS2'\] feed the feeder"):
        FeederModel(grid, "M1", {"TIE@SS06": True})
    with pytest.raises(InvalidInputError, match="meshed"):
        FeederModel(ieee33_metered(), "HEAD", {"T8-21": True})


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="voltage_sigma_pu must be > 0"):
        LocationSettings(voltage_sigma_pu=0.0)
    with pytest.raises(ValueError, match="samples_per_section"):
        LocationSettings(samples_per_section=0)


sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "grid"))


@pytest.mark.parametrize("kind", KINDS)
def test_faults_solved_by_opendss_are_located(grid, kind) -> None:
    pytest.importorskip("opendssdirect")
    from grid_oracles import opendss_fault

    study = FaultStudy(grid)
    feeder = FeederModel(grid, "M1")

    def measured(voltages, currents):
        return np.concatenate([voltages["PS1-MV"], currents[("F1-01", 0)]])

    # A resistance far above any load impedance leaves the pre-fault state.
    before = measured(*opendss_fault(grid, study, "F1-03", 0.5, "a-b-c", 1e9)[:2])
    for line, fraction, resistance in [("F1-02", 0.35, 0.0), ("F1-05", 0.8, 7.0)]:
        voltages, currents, _ = opendss_fault(grid, study, line, fraction, kind, resistance)
        meters = {m: np.abs(voltages[grid.meter(m).bus]) for m in feeder.meters}
        result = locate(feeder, before, measured(voltages, currents), meters, uncertainty=SIGMA)
        assert result.line == line
        # OpenDSS's load flow differs from the grid's by a few tenths of a volt (2e-5 p.u.);
        # the meters' magnitudes, weighted as good to a volt, carry that to 0.2 m at most.
        assert result.distance_m == pytest.approx(fraction * 220, abs=0.2)
        assert result.resistance_ohm == pytest.approx(resistance, abs=0.01)
        assert result.kind == FaultKind.parse(kind)
        assert not result.ambiguous, result.reasons
