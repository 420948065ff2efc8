"""A benchmark run against a baseline run and against the paper's Raspberry Pi and laptop times.

Runs are matched benchmark by benchmark on the pytest node id. Within a run, a compiled kernel
is paired with its numpy twin when the two differ only in the backend parameter. The paper's
figures (Orlando et al. 2022, section VI; ``DESIGN.md`` section 7) are matched on the beginning
of the benchmark group or on the benchmark function's name through :data:`PAPER_FIGURES`, twins
left out. The paper timed whole steps in Octave, so a benchmark belongs in that table only when
it times the same whole step.

Speed-ups are reference time / this run's time: above 1, this run is faster.
"""

import dataclasses
import logging
from collections.abc import Sequence
from pathlib import Path

from gridedge.bench.machine import describe_machine, emulation_evidence
from gridedge.bench.results import STATISTICS, Benchmark, Run
from gridedge.errors import BackendUnavailableError, InvalidInputError

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class PaperFigure:
    """One step the paper timed, in Octave, on a Raspberry Pi 3 and on a laptop.

    Attributes
    ----------
    step : str
        The paper's name of the step.
    pi_s, laptop_s : float or None
        Mean times, seconds; None where the paper gives none.
    groups : tuple of str
        Beginnings (any case) of the benchmark groups that time this step.
    tests : tuple of str
        Names of benchmark functions that time this step, whatever their group.
    laptop_at_most : bool
        The laptop figure is an upper bound (the paper says "< 28 ms").
    """

    step: str
    pi_s: float | None
    laptop_s: float | None
    groups: tuple[str, ...] = ()
    tests: tuple[str, ...] = ()
    laptop_at_most: bool = False

    def times(self, benchmark: Benchmark) -> bool:
        """Whether `benchmark` times this step: by its group or by its function's name."""
        group = (benchmark.group or "").lower()
        return benchmark.function in self.tests or any(map(group.startswith, self.groups))


# The paper's timings (DESIGN.md section 7) and the benchmark groups that time the same step.
PAPER_FIGURES: tuple[PaperFigure, ...] = (
    # benchmarks/bench_faults.py: one location on the Turin case, end to end.
    PaperFigure(
        "fault location (on meter)",
        8.17,
        0.531,
        groups=("fault location",),
        tests=("test_turin_locate",),
    ),
    # benchmarks/bench_restoration.py: the isolation and restoration plan of one fault.
    PaperFigure(
        "network reconfiguration",
        None,
        0.028,
        groups=("network reconfiguration", "restoration plan"),
        laptop_at_most=True,
    ),
    PaperFigure("whole FLISR, worst case", 10.5, 2.5, groups=("flisr",)),
    # benchmarks/bench_estimation.py: one run of a level, message in to message out.
    PaperFigure("LV-level state estimation", 11.9, 0.127, tests=("test_lv100_level_ours",)),
    PaperFigure("MV-level state estimation", 4.13, 0.057, tests=("test_turin_mv_level_ours",)),
)

EMULATION_WARNING = (
    "Timings under emulation say nothing about a real Raspberry Pi: use them only to see "
    "that the benchmarks run."
)


@dataclasses.dataclass(frozen=True)
class Row:
    """One benchmark of this run beside its twin and the baseline.

    Attributes
    ----------
    benchmark : Benchmark
        The benchmark of this run.
    seconds : float
        Its time (the chosen statistic), seconds.
    twin_ratio : float or None
        Twin time / native time in this run, on the native row of a pair.
    baseline_s : float or None
        The same benchmark's time in the baseline run, seconds.
    """

    benchmark: Benchmark
    seconds: float
    twin_ratio: float | None
    baseline_s: float | None

    @property
    def speedup(self) -> float | None:
        """Baseline time / this time; None without a baseline."""
        return None if self.baseline_s is None else self.baseline_s / self.seconds


@dataclasses.dataclass(frozen=True)
class PaperRow:
    """One of the paper's steps beside the benchmark of this run that times it (if any)."""

    figure: PaperFigure
    benchmark: Benchmark | None
    seconds: float | None

    def speedup(self, reference_s: float | None) -> float | None:
        """`reference_s` / this run's time; None when either is missing."""
        if reference_s is None or self.seconds is None:
            return None
        return reference_s / self.seconds


@dataclasses.dataclass(frozen=True)
class Comparison:
    """Everything the report shows; built by :func:`compare`."""

    current: Run
    baseline: Run | None
    statistic: str
    rows: tuple[Row, ...]
    paper: tuple[PaperRow, ...]
    emulation: str | None
    baseline_emulation: str | None


def compare(current: Run, baseline: Run | None = None, statistic: str = "median") -> Comparison:
    """Match this run's benchmarks with their twins, the baseline and the paper.

    Parameters
    ----------
    current : Run
        The run to judge.
    baseline : Run, optional
        The reference run.
    statistic : {"min", "median", "mean"}
        Which time of the rounds to compare.

    Raises
    ------
    InvalidInputError
        If `statistic` is not one of :data:`~gridedge.bench.results.STATISTICS`.
    """
    if statistic not in STATISTICS:
        raise InvalidInputError(f"statistic {statistic!r} is not one of {STATISTICS}")
    reference = {} if baseline is None else baseline.by_fullname()
    twins = {b.case: b for b in current.benchmarks if b.backend == "python"}
    # Rows come group by group, each group where it first appears in the run.
    first = {}
    for index, b in enumerate(current.benchmarks):
        first.setdefault(b.group, index)
    rows = []
    for b in sorted(current.benchmarks, key=lambda b: first[b.group]):
        twin = twins.get(b.case) if b.backend == "native" else None
        seconds = b.seconds[statistic]
        rows.append(
            Row(
                benchmark=b,
                seconds=seconds,
                twin_ratio=None if twin is None else twin.seconds[statistic] / seconds,
                baseline_s=(
                    reference[b.fullname].seconds[statistic] if b.fullname in reference else None
                ),
            )
        )
    paper = []
    for figure in PAPER_FIGURES:
        timed = [b for b in current.benchmarks if figure.times(b) and b.backend != "python"]
        paper += [PaperRow(figure, b, b.seconds[statistic]) for b in timed] or [
            PaperRow(figure, None, None)
        ]
    return Comparison(
        current=current,
        baseline=baseline,
        statistic=statistic,
        rows=tuple(rows),
        paper=tuple(paper),
        emulation=emulation_evidence(current.machine_info),
        baseline_emulation=None if baseline is None else emulation_evidence(baseline.machine_info),
    )


def format_comparison(comparison: Comparison) -> str:
    """Render a :class:`Comparison` as a plain-text report."""
    c = comparison
    lines = [
        f"{c.current.path}: the {c.statistic} of the rounds; speed-up = reference time / this "
        "time (above 1: this run is faster)",
        f"  this run: {_label(c.current)}",
    ]
    if c.baseline is not None:
        lines.append(f"  baseline: {c.baseline.path}: {_label(c.baseline)}")
    for whose, evidence in (("this run", c.emulation), ("the baseline", c.baseline_emulation)):
        if evidence:
            lines += [f"  EMULATED ({whose}): {evidence}.", f"  {EMULATION_WARNING}"]
    lines += ["", *_table(_benchmark_table(c)), ""]
    lines.append(
        "Against Orlando et al. 2022 (Octave on a Raspberry Pi 3 and a laptop; DESIGN.md "
        "section 7), numpy twins left out:"
    )
    lines += _table(_paper_table(c))
    return "\n".join(lines)


def _benchmark_table(c: Comparison) -> list[Sequence[str]]:
    table: list[Sequence[str]] = [
        ("benchmark", "this run", "twin / native", "baseline", "speed-up")
    ]
    group: object = ()  # no group yet: None is a group (the benchmarks without one)
    for row in c.rows:
        if row.benchmark.group != group:
            group = row.benchmark.group
            table.append((row.benchmark.group or "(no group)",))
        table.append(
            (
                f"  {row.benchmark.name}",
                format_seconds(row.seconds),
                _ratio(row.twin_ratio),
                format_seconds(row.baseline_s),
                _ratio(row.speedup),
            )
        )
    return table


def _paper_table(c: Comparison) -> list[Sequence[str]]:
    table: list[Sequence[str]] = [
        (
            "the paper's step, this run's benchmarks",
            "Pi 3",
            "laptop",
            "this run",
            "vs Pi",
            "vs laptop",
        )
    ]
    figure = None
    for p in c.paper:
        at_most = "< " if p.figure.laptop_at_most else ""
        if p.figure is not figure:
            figure = p.figure
            untimed = "" if p.benchmark else "no benchmark yet"
            laptop = at_most + format_seconds(figure.laptop_s)
            table.append((figure.step, format_seconds(figure.pi_s), laptop, untimed, "", ""))
        if p.benchmark is None:
            continue
        laptop_speedup = p.speedup(p.figure.laptop_s)
        table.append(
            (
                f"  {p.benchmark.name}",
                "",
                "",
                format_seconds(p.seconds),
                _ratio(p.speedup(p.figure.pi_s)),
                (at_most if laptop_speedup is not None else "") + _ratio(laptop_speedup),
            )
        )
    return table


def plot_comparison(comparison: Comparison, path: str | Path) -> Path:
    """Draw this run, the baseline and the paper's figures as bars on a log time axis (PNG).

    Raises
    ------
    BackendUnavailableError
        If matplotlib is not installed (it is not a dependency of gridedge).
    """
    try:
        import matplotlib as mpl

        mpl.use("Agg")
        from matplotlib import pyplot as plt
    except ImportError as exc:
        raise BackendUnavailableError(
            "the plot needs matplotlib, which gridedge does not depend on: "
            "'pip install matplotlib', or leave out --plot"
        ) from exc
    bars: list[tuple[str, str, float]] = []
    for row in comparison.rows:
        bars.append((row.benchmark.name, "this run", row.seconds))
        if row.baseline_s is not None:
            bars.append((row.benchmark.name, "baseline", row.baseline_s))
    for p in comparison.paper:
        if p.benchmark is None or p.seconds is None:
            continue
        bars += [(p.figure.step, "this run", p.seconds)]
        bars += [
            (p.figure.step, who, s)
            for who, s in (("paper Pi 3", p.figure.pi_s), ("paper laptop", p.figure.laptop_s))
            if s
        ]
    colours = {"this run": "C0", "baseline": "C1", "paper Pi 3": "C3", "paper laptop": "C2"}
    figure, axes = plt.subplots(figsize=(9, 0.3 * len(bars) + 1.5))
    labels = [f"{name} ({who})" for name, who, _ in bars]
    axes.barh(labels, [s for *_, s in bars], color=[colours[who] for _, who, _ in bars])
    axes.set_xscale("log")
    axes.set_xlabel(f"seconds ({comparison.statistic} of the rounds)")
    axes.invert_yaxis()
    title = describe_machine(comparison.current.machine_info)
    axes.set_title(("EMULATED: " if comparison.emulation else "") + title, fontsize=8)
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    logger.info("plot written to %s", path)
    return path


def format_seconds(seconds: float | None) -> str:
    """Seconds with three significant digits and a unit from ns to s; ``-`` for None."""
    if seconds is None:
        return "-"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def _ratio(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}x" if value >= 100 else f"{value:.3g}x"


def _label(run: Run) -> str:
    commit = run.commit_info
    # pytest-benchmark writes "unversioned" outside a git checkout.
    revision = str(commit.get("id", ""))[:10] if _is_hex(commit.get("id")) else ""
    if revision and commit.get("dirty"):
        revision += " (with uncommitted changes)"
    when = run.datetime[:16]
    extra = "; ".join(x for x in (f"commit {revision}" if revision else "", when) if x)
    return describe_machine(run.machine_info) + (f"; {extra}" if extra else "")


def _is_hex(value: object) -> bool:
    return (
        isinstance(value, str) and len(value) >= 7 and all(c in "0123456789abcdef" for c in value)
    )


def _table(rows: Sequence[Sequence[str]]) -> list[str]:
    """Align cells in columns; a one-cell row is a heading spanning the table."""
    widths = [max(len(r[i]) for r in rows if len(r) > 1) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        if len(row) == 1:
            lines.append(row[0])
            continue
        cells = [row[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)
        ]
        lines.append("  ".join(cells).rstrip())
    return lines
