"""Fault detection and location end to end: simulated waveforms through the 12-bit DAQ model
at 3.2 kHz, the phasor kernel, the detector, the stable intervals' phasors and the locator
(40-fault samples of the 200-fault campaigns that ``gridedge faults accuracy`` runs)."""

import numpy as np
import pytest

from gridedge.grid.daq import DaqSettings
from gridedge.meter.faults.accuracy import Campaign, run, summary


def p95(outcomes) -> float:
    return float(np.percentile([o.error_m for o in outcomes], 95))


@pytest.mark.slow
@pytest.mark.parametrize(
    ("case", "limit_m"),
    [("turin", 10.0), ("cigre_mv", 20.0), ("ieee33", 20.0), ("ieee33-dense", 15.0)],
)
def test_twelve_bit_campaign(case, limit_m) -> None:
    outcomes = run(case, 40, seed=2)
    print(summary(outcomes))
    assert all(o.detected and o.location is not None for o in outcomes)
    assert all(o.kind is not None and str(o.kind) == o.fault.kind for o in outcomes)
    # Never a confident wrong answer: a wrong bus pair is always flagged.
    assert all(o.location.ambiguous for o in outcomes if not o.correct_pair)
    low = [o for o in outcomes if o.fault.resistance_ohm <= 10]
    assert sum(o.correct_pair for o in low) >= 0.95 * len(low)
    # Within 220 m (Turin), 0.24-4.9 km (CIGRE MV) or 1 km (IEEE 33) sections, with a 12-bit
    # DAQ (200-fault campaigns of seed 1: 5.5 m, 8.2 m, 16.1 m and 9.3 m).
    assert p95(low) <= limit_m
    assert np.median([o.error_m for o in outcomes]) <= 3.0
    # The locations' own standard deviations are honest: three of them cover the error.
    right = [o for o in outcomes if o.correct_pair]
    assert sum(o.error_m <= 3 * o.location.distance_sigma_m for o in right) >= 0.95 * len(right)


@pytest.mark.slow
def test_a_sixteen_bit_daq_locates_within_three_metres() -> None:
    outcomes = run("turin", 20, seed=3, campaign=Campaign(daq=DaqSettings(bits=16)))
    assert all(o.correct_pair for o in outcomes)
    assert p95(outcomes) <= 3.0


def test_the_accuracy_command_prints_its_table(capsys) -> None:
    from gridedge.cli import main

    assert main(["faults", "accuracy", "--case", "ieee33", "--faults", "4", "--seed", "5"]) == 0
    out = capsys.readouterr().out
    assert "case ieee33: 4 faults (seed 5)" in out
    assert "12-bit DAQ (1 LSB noise) at 3200 Hz" in out
    assert "| all | 4 | 4/4 (100 %) |" in out
    assert "| within 3 sigma |" in out


def test_the_command_offers_every_campaign_network_and_every_grid_name_is_a_case() -> None:
    from gridedge.grid import cases
    from gridedge.grid.casenames import CASE_NAMES
    from gridedge.meter.faults import accuracy, commands

    assert sorted(commands.CASES) == sorted(accuracy.CASES)
    assert sorted(CASE_NAMES) == sorted(cases.__all__)
