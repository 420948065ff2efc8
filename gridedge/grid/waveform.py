"""The waveform simulator: what each meter's DAQ would sample (the Opal-RT stand-in).

A :class:`Simulation` takes a grid and a timeline of events - load changes, switch
operations, fault inception and clearance - and solves the grid once per interval between
events (power flow, plus fault analysis while a fault is on). Each meter's six signals are
then sums of sinusoids at the chosen frequency with the solved phasors, optional harmonics,
and, at fault inception, the decaying DC offset that keeps each current continuous::

    i(t) = sqrt(2) Re(I e^{j 2 pi f t}) + (i_before(t0) - i_after(t0)) e^{-(t - t0) / tau}

with tau = X / (omega R) of the positive-sequence loop seen from the fault (fault resistance
included). The signals pass through the sensors and the DAQ of :mod:`gridedge.grid.daq`.

:meth:`Simulation.source` gives one meter's stream as an acquisition source: ``fs``,
``start_time``, ``scaling``, ``read(max_samples) -> (first_index, samples)`` and
``close()``, the interface the meter uses for real DAQ hardware. Streams are deterministic
for a seed whatever the chunk sizes, and either as fast as possible or paced in real time.
Phasors follow the synchrophasor convention: RMS, referred to ``cos(2 pi f0 t)`` on the
absolute time base that starts at ``start_time``.
"""

import logging
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from gridedge.channels import CHANNELS, ChannelScaling
from gridedge.errors import ConfigurationError, InvalidInputError
from gridedge.grid import topology
from gridedge.grid.daq import DaqSettings, NoiseTable
from gridedge.grid.faults import FaultKind, FaultStudy
from gridedge.grid.model import Grid, Line, Load, Meter
from gridedge.grid.powerflow import power_flow
from gridedge.timebase import cycle_phase

logger = logging.getLogger(__name__)

NOISE_BLOCK = 4096
"""Samples per block of synthesis (and of noise, see :class:`gridedge.grid.daq.NoiseTable`)."""

KEPT_BLOCKS = 4
"""Synthesised blocks kept for meters that read behind the others."""

DEFAULT_RATED_A = 400.0
"""Rated current assumed for a measured line without ``ampacity_a``, A."""


@dataclass(frozen=True)
class LoadChange:
    """From `time_s` on, load `load_id` draws `p_kw` and `q_kvar`."""

    time_s: float
    load_id: str
    p_kw: float
    q_kvar: float


@dataclass(frozen=True)
class SwitchOperation:
    """At `time_s`, switch `switch_id` closes (True) or opens (False)."""

    time_s: float
    switch_id: str
    closed: bool


@dataclass(frozen=True)
class FaultInception:
    """At `time_s`, a fault of `kind` through `resistance_ohm` starts.

    `location` is a line id (with `fraction` from its from bus) or a bus id.
    """

    time_s: float
    location: str
    kind: str
    fraction: float = 0.0
    resistance_ohm: float = 0.0


@dataclass(frozen=True)
class FaultClearance:
    """At `time_s`, the fault disappears (the arc extinguishes or is removed)."""

    time_s: float


Event = LoadChange | SwitchOperation | FaultInception | FaultClearance


@dataclass(frozen=True)
class WaveformSettings:
    """Signal settings (loadable with :func:`gridedge.config.load`).

    Attributes
    ----------
    fs : float
        Sampling frequency, Hz.
    frequency_hz : float, optional
        Actual system frequency; the grid's nominal one when not given.
    harmonic_orders, harmonic_fractions : tuple
        Harmonics added to every channel: order h and magnitude relative to the
        fundamental; harmonic h of a phasor X has angle h arg(X) (so the 5th is a negative
        sequence in a balanced set).
    dc_offset : bool
        Whether currents carry the decaying DC offset at fault inception.
    seed : int
        Seed of the DAQ noise.
    start_time : float
        Absolute time of sample 0, s.
    duration_s : float, optional
        Length of each stream; endless when not given.
    realtime : bool
        Pace reads in real time (a read waits until its samples are due).
    """

    fs: float = 6400.0
    frequency_hz: float | None = None
    harmonic_orders: tuple[int, ...] = ()
    harmonic_fractions: tuple[float, ...] = ()
    dc_offset: bool = True
    seed: int = 0
    start_time: float = 0.0
    duration_s: float | None = None
    realtime: bool = False

    def __post_init__(self) -> None:
        if not (math.isfinite(self.fs) and self.fs > 0):
            raise ConfigurationError(f"fs must be a positive number, got {self.fs!r}")
        if self.frequency_hz is not None and not 0 < self.frequency_hz < self.fs / 2:
            raise ConfigurationError(
                f"frequency_hz must lie in (0, fs / 2), got {self.frequency_hz!r}"
            )
        if len(self.harmonic_orders) != len(self.harmonic_fractions):
            raise ConfigurationError("harmonic_orders and harmonic_fractions differ in length")
        for order in self.harmonic_orders:
            if order < 2:
                raise ConfigurationError(f"harmonic orders must be >= 2, got {order}")
        if self.duration_s is not None and not self.duration_s > 0:
            raise ConfigurationError(f"duration_s must be > 0, got {self.duration_s!r}")
        if not math.isfinite(self.start_time):
            raise ConfigurationError(f"start_time must be finite, got {self.start_time!r}")


@dataclass(frozen=True)
class Segment:
    """A steady state between two events.

    Attributes
    ----------
    start : int
        Index of its first sample.
    phasors : ndarray of complex128, shape (n_meter, 6)
        RMS phasors of every meter's channels, primary V and A.
    dc : ndarray of float64, shape (n_meter, 3)
        DC offset of the current channels at `start`, A (zero but at fault inception).
    tau_s : float
        Time constant of the DC offset, s.
    description : str
        What the state is, for logs.
    """

    start: int
    phasors: NDArray[np.complex128]
    dc: NDArray[np.float64]
    tau_s: float
    description: str


@dataclass
class _State:
    loads: dict[str, tuple[float, float]] = field(default_factory=dict)
    switches: dict[str, bool] = field(default_factory=dict)
    fault: FaultInception | None = None


class Simulation:
    """Waveforms of every meter of a grid through a timeline of events.

    Parameters
    ----------
    grid : Grid
        The grid, with its switch states at time 0.
    events : iterable of Event
        In any order; events at one time apply together.
    settings : WaveformSettings, optional
    daq : DaqSettings, optional

    Raises
    ------
    InvalidInputError
        An event names an unknown element, has a negative time or impossible parameters,
        or the timeline clears a fault that is not on or starts a second one.
    """

    def __init__(
        self,
        grid: Grid,
        events: Iterable[Event] = (),
        settings: WaveformSettings | None = None,
        daq: DaqSettings | None = None,
    ) -> None:
        self.grid = grid
        self.settings = settings or WaveformSettings()
        self.daq = daq or DaqSettings()
        if not grid.meters:
            raise InvalidInputError(f"grid {grid.name!r} has no meters to simulate")
        self.meter_ids = tuple(m.id for m in grid.meters)
        self.f0 = grid.frequency_hz
        self.frequency = self.settings.frequency_hz or self.f0
        self.events = tuple(sorted(events, key=lambda e: e.time_s))
        for event in self.events:
            self._check(event)
        self.scalings = {m.id: self._scaling(m.id) for m in grid.meters}
        self._phase0 = 2 * math.pi * cycle_phase(self.settings.start_time, self.frequency)
        self._reference0 = 2 * math.pi * cycle_phase(self.settings.start_time, self.f0)
        self._code_scale, self._code_shift = self.daq.code_map(
            np.array([self.scalings[m].gain for m in self.meter_ids]),
            np.array([self.scalings[m].offset for m in self.meter_ids]),
        )
        self._noise = NoiseTable(self.settings.seed, NOISE_BLOCK * len(self.meter_ids) * 6)
        self._blocks: dict[int, NDArray[np.float64]] = {}
        self.segments = self._solve()

    # --- set-up --------------------------------------------------------------------------

    def _check(self, event: Event) -> None:
        if not (isinstance(event.time_s, int | float) and math.isfinite(event.time_s)):
            raise InvalidInputError(f"{event!r}: time_s must be a finite number")
        if event.time_s < 0:
            raise InvalidInputError(f"{event!r}: time_s must be >= 0")
        grid = self.grid
        if isinstance(event, LoadChange):
            grid.load(event.load_id)
            Load(event.load_id, grid.load(event.load_id).bus, event.p_kw, event.q_kvar)
        elif isinstance(event, SwitchOperation):
            grid.check_switch_states({event.switch_id: event.closed})
        elif isinstance(event, FaultInception):
            FaultKind.parse(event.kind)
            if event.location not in grid.bus_ids:
                grid.line(event.location)
                if not 0 <= event.fraction <= 1:
                    raise InvalidInputError(f"{event!r}: fraction must lie in [0, 1]")
            elif event.fraction != 0:
                raise InvalidInputError(f"{event!r}: a bus fault has no fraction")
            if not event.resistance_ohm >= 0:
                raise InvalidInputError(f"{event!r}: resistance_ohm must be >= 0")
        elif not isinstance(event, FaultClearance):
            raise InvalidInputError(f"unknown event {event!r}")

    def _scaling(self, meter_id: str) -> ChannelScaling:
        meter = self.grid.meter(meter_id)
        kv = self.grid.bus(meter.bus).kv
        voltage_peak = self.daq.voltage_full_scale_pu * kv * 1e3 / math.sqrt(3) * math.sqrt(2)
        rated = meter.current_rating_a or DEFAULT_RATED_A
        if meter.branch is not None and meter.current_rating_a is None:
            branch = self.grid.branch(meter.branch)
            if isinstance(branch, Line):
                rated = branch.ampacity_a or DEFAULT_RATED_A
            else:
                rated = branch.sn_mva / (math.sqrt(3) * kv) * 1e3
        current_peak = self.daq.current_full_scale * rated * math.sqrt(2)
        return self.daq.scaling(voltage_peak, current_peak)

    def _solve(
        self, segments: list[Segment] | None = None, after: float = -1.0
    ) -> tuple[Segment, ...]:
        """Solve the steady states of the timeline.

        `segments` already solved are kept, and the events up to time `after` only replayed
        into the state: solving starts with the first event time beyond `after`.
        """
        state = _State()
        times = sorted({0.0, *(e.time_s for e in self.events)})
        segments = [] if segments is None else segments
        for moment in times:
            starting_fault = False
            for event in (e for e in self.events if e.time_s == moment):
                starting_fault |= self._apply(state, event)
            if moment <= after:
                continue
            phasors, tau, description = self._steady_state(state)
            start = math.ceil(moment * self.settings.fs - 1e-9)
            dc = np.zeros((len(self.meter_ids), 3))
            if starting_fault and self.settings.dc_offset and segments:
                t0 = start / self.settings.fs
                before = self._instantaneous(segments[-1].phasors[:, 3:], t0)
                dc = before - self._instantaneous(phasors[:, 3:], t0)
            if segments and segments[-1].start == start:
                segments.pop()
            segments.append(Segment(start, phasors, dc, tau, description))
            logger.debug("from sample %d: %s", start, description)
        return tuple(segments)

    def _apply(self, state: _State, event: Event) -> bool:
        """Apply `event` to `state`; True when it starts a fault."""
        if isinstance(event, LoadChange):
            state.loads[event.load_id] = (event.p_kw, event.q_kvar)
        elif isinstance(event, SwitchOperation):
            state.switches[event.switch_id] = event.closed
        elif isinstance(event, FaultInception):
            if state.fault is not None:
                raise InvalidInputError(
                    f"{event!r} starts while the fault at {state.fault.location!r} is still on"
                )
            state.fault = event
            return True
        else:
            if state.fault is None:
                raise InvalidInputError(f"{event!r} clears a fault that is not on")
            state.fault = None
        return False

    def _steady_state(self, state: _State) -> tuple[NDArray[np.complex128], float, str]:
        grid = self.grid
        if state.loads:
            grid = grid.with_elements(
                loads=[
                    Load(d.id, d.bus, *state.loads[d.id], name=d.name) if d.id in state.loads else d
                    for d in grid.loads
                ]
            )
        prefault = power_flow(grid, state.switches)
        result: _Solution = prefault
        tau = 0.0
        description = f"{len(state.switches)} switch changes, {len(state.loads)} load changes"
        fault = state.fault
        if fault is not None and self._energised(grid, state, fault):
            study = FaultStudy(grid, state.switches, prefault=prefault)
            if fault.location in grid.bus_ids:
                outcome = study.bus(fault.location, fault.kind, fault.resistance_ohm)
            else:
                outcome = study.line(
                    fault.location, fault.fraction, fault.kind, fault.resistance_ohm
                )
            loop = outcome.thevenin_impedance[1] + fault.resistance_ohm
            tau = loop.imag / (2 * math.pi * self.f0 * loop.real) if loop.real > 0 else math.inf
            result = outcome
            description += f", {fault.kind} fault at {fault.location!r}"
        phasors = np.array([_meter_phasors(result, grid.meter(m)) for m in self.meter_ids])
        return phasors, tau, description

    @staticmethod
    def _energised(grid: Grid, state: _State, fault: FaultInception) -> bool:
        energised = topology.energised_buses(grid, state.switches)
        if fault.location in grid.bus_ids:
            return fault.location in energised
        topo = topology.of(grid, state.switches)
        line = grid.line(fault.location)
        return any(bus in energised and (line.id, bus) not in topo.open_ends for bus in line.buses)

    def _instantaneous(self, phasors: NDArray[np.complex128], t: float) -> NDArray[np.float64]:
        """Fundamental's instantaneous values at relative time `t`, same shape as `phasors`."""
        angle = self._phase0 + 2 * math.pi * self.frequency * t
        return math.sqrt(2) * (phasors * np.exp(1j * angle)).real

    def extend(self, events: Iterable[Event]) -> None:
        """Add events to the timeline while the streams run (switching, injected faults).

        The steady states from the earliest new event on are solved again and the samples
        synthesised past it forgotten; earlier ones stay as they were. Events at times whose
        samples a stream has already read change nothing for that stream: give them a time
        ahead of every reader.

        Raises
        ------
        InvalidInputError
            As for the constructor; the timeline is then left unchanged.
        """
        added = sorted(events, key=lambda e: e.time_s)
        if not added:
            return
        for event in added:
            self._check(event)
        earliest = added[0].time_s
        previous = self.events
        self.events = tuple(sorted([*previous, *added], key=lambda e: e.time_s))
        start = math.ceil(earliest * self.settings.fs - 1e-9)
        kept = [s for s in self.segments if s.start < start]
        after = max((e.time_s for e in previous if e.time_s < earliest), default=-1.0)
        try:
            self.segments = self._solve(kept, after)
        except InvalidInputError:
            self.events = previous
            raise
        for block in [b for b in self._blocks if (b + 1) * NOISE_BLOCK > start]:
            del self._blocks[block]
        logger.info("timeline extended from sample %d: %s", start, added)

    # --- queries -------------------------------------------------------------------------

    def meter_index(self, meter_id: str) -> int:
        """Row of `meter_id` in every per-meter array."""
        self.grid.meter(meter_id)
        return self.meter_ids.index(meter_id)

    def segment_at(self, index: int) -> Segment:
        """Return the segment that sample `index` belongs to."""
        starts = [s.start for s in self.segments]
        return self.segments[max(0, int(np.searchsorted(starts, index, side="right")) - 1)]

    def phasors(self, meter_id: str, time_s: float) -> NDArray[np.complex128]:
        """Steady-state phasors of a meter at relative time `time_s`, shape (6,), V and A RMS.

        Referred to ``cos(2 pi f0 t)`` on the absolute time base; with a frequency deviation
        they rotate at f - f0.
        """
        index = math.floor(time_s * self.settings.fs + 1e-9)
        phasor = self.segment_at(index).phasors[self.meter_index(meter_id)]
        deviation = 2 * math.pi * (self.frequency - self.f0) * time_s
        return phasor * np.exp(1j * (self._phase0 - self._reference0 + deviation))

    def primary(self, meter_id: str, first: int, count: int) -> NDArray[np.float64]:
        """Noise-free signals of a meter, samples `first` .. `first + count`, shape (count, 6).

        Primary volts and amperes (what the sensors see).
        """
        ones = np.ones((len(self.meter_ids), len(CHANNELS)))
        signals = self._signals(first, count, ones, 0 * ones, np.float64)
        return signals[:, self.meter_index(meter_id)]

    def _signals(
        self,
        first: int,
        count: int,
        scale: NDArray[np.float64],
        shift: NDArray[np.float64],
        dtype: type,
    ) -> NDArray[np.floating]:
        """Every meter's signals mapped by ``scale x + shift``, shape (count, n_meter, 6).

        `scale` and `shift` have shape (n_meter, 6). The fundamental, the shift and the
        harmonics of each segment are one matrix product of a few basis columns.
        """
        fs = self.settings.fs
        index = first + np.arange(count)
        angle = self._phase0 + (2 * math.pi * self.frequency / fs) * index
        columns = [np.cos(angle), -np.sin(angle)]
        for order in self.settings.harmonic_orders:
            columns += [np.cos(order * angle), -np.sin(order * angle)]
        basis = np.stack([*columns, np.ones(count)], axis=1).astype(dtype)
        out = np.empty((count, *scale.shape), dtype=dtype)
        flat = out.reshape(count, -1)
        ends = [s.start for s in self.segments[1:]] + [first + count]
        for segment, segment_end in zip(self.segments, ends, strict=True):
            lo, hi = max(segment.start, first) - first, min(segment_end, first + count) - first
            if hi <= lo:
                continue
            phasor = segment.phasors * scale * math.sqrt(2)
            rows = [phasor.real, phasor.imag]
            for order, share in zip(
                self.settings.harmonic_orders, self.settings.harmonic_fractions, strict=True
            ):
                harmonic = share * np.abs(phasor) * np.exp(1j * order * np.angle(phasor))
                rows += [harmonic.real, harmonic.imag]
            weights = np.stack([r.reshape(-1) for r in [*rows, shift]]).astype(dtype)
            # einsum rather than matmul: BLAS is slow for an inner dimension this small.
            np.einsum("nk,km->nm", basis[lo:hi], weights, out=flat[lo:hi])
            if segment.tau_s > 0 and np.any(segment.dc):
                decay = np.exp(-(index[lo:hi] - segment.start) / fs / segment.tau_s)
                out[lo:hi, :, 3:] += (decay[:, None, None] * (segment.dc * scale[:, 3:])).astype(
                    dtype
                )
        return out

    def samples(self, meter_id: str, first: int, count: int) -> NDArray[np.float64]:
        """Return DAQ samples of a meter, `first` .. `first + count`, shape (count, 6), V."""
        return self._samples(self.meter_index(meter_id), first, count)

    def _samples(self, meter: int, first: int, count: int) -> NDArray[np.float64]:
        block, offset = divmod(first, NOISE_BLOCK)
        if offset + count <= NOISE_BLOCK:  # the common case: one block
            return self._block(block)[offset : offset + count, meter].copy()
        out = np.empty((count, len(CHANNELS)))
        done = 0
        while done < count:
            block, offset = divmod(first + done, NOISE_BLOCK)
            take = min(NOISE_BLOCK - offset, count - done)
            out[done : done + take] = self._block(block)[offset : offset + take, meter]
            done += take
        return out

    def _block(self, block: int) -> NDArray[np.float64]:
        """DAQ volts of every meter for one block, shape (NOISE_BLOCK, n_meter, 6).

        Meters read at about the same pace, so each block is synthesised once for all of
        them and kept while they read through it. Single precision holds a 12-bit code
        scale with room to spare.
        """
        cached = self._blocks.get(block)
        if cached is None:
            analog = self._signals(
                block * NOISE_BLOCK, NOISE_BLOCK, self._code_scale, self._code_shift, np.float32
            )
            noise = self._noise.block(block).reshape(analog.shape)
            cached = self.daq.volts(self.daq.quantise(analog, noise))
            self._blocks[block] = cached
            while len(self._blocks) > KEPT_BLOCKS:
                self._blocks.pop(next(iter(self._blocks)))
        return cached

    def source(self, meter_id: str) -> "MeterStream":
        """One meter's stream, an acquisition source."""
        return MeterStream(self, meter_id)

    def sources(self) -> dict[str, "MeterStream"]:
        """Every meter's stream, keyed by meter id."""
        return {m: self.source(m) for m in self.meter_ids}


class MeterStream:
    """A meter's DAQ stream from a :class:`Simulation` (an acquisition source).

    Attributes
    ----------
    fs : float
        Sampling frequency, Hz.
    start_time : float
        Absolute time of sample 0, s.
    scaling : ChannelScaling
        DAQ volts to primary volts and amperes.
    meter_id : str
    """

    def __init__(self, simulation: Simulation, meter_id: str) -> None:
        self._row = simulation.meter_index(meter_id)
        self.simulation = simulation
        self.meter_id = meter_id
        self.fs = simulation.settings.fs
        self.start_time = simulation.settings.start_time
        self.scaling = simulation.scalings[meter_id]
        duration = simulation.settings.duration_s
        self._total = None if duration is None else round(duration * self.fs)
        self._next = 0
        self._origin: float | None = None
        self._closed = False

    @property
    def next_index(self) -> int:
        """Index of the next sample :meth:`read` returns."""
        return self._next

    def read(self, max_samples: int) -> tuple[int, NDArray[np.float64]]:
        """Return ``(first_index, samples)``: up to `max_samples` rows, shape (n, 6), DAQ volts.

        Paced streams wait until at least one sample is due and return those due; an
        exhausted or closed stream returns zero rows.
        """
        if max_samples < 0:
            raise InvalidInputError(f"max_samples must be >= 0, got {max_samples}")
        first = self._next
        count = max_samples
        if self._total is not None:
            count = min(count, self._total - first)
        if self._closed or count <= 0:
            return first, np.empty((0, len(CHANNELS)))
        if self.simulation.settings.realtime:
            count = min(count, self._due(first))
        samples = self.simulation._samples(self._row, first, count)
        self._next = first + count
        return first, samples

    def _due(self, first: int) -> int:
        """Wait until sample `first` is due; return how many samples are due from it."""
        now = time.monotonic()
        if self._origin is None:
            self._origin = now - first / self.fs
        due = math.floor((now - self._origin) * self.fs) + 1 - first
        if due < 1:
            time.sleep((1 - due) / self.fs)
            due = 1
        return due

    def close(self) -> None:
        """End the stream; later reads return zero rows."""
        self._closed = True


class _Solution(Protocol):
    """What a power-flow or fault result offers the simulator."""

    grid: Grid

    def phase_voltages(self, bus: str) -> NDArray[np.complex128]: ...

    def phase_currents(self, branch: str, bus: str | None = None) -> NDArray[np.complex128]: ...


def _meter_phasors(result: _Solution, meter: Meter) -> NDArray[np.complex128]:
    """Return a meter's six phasors (V, A RMS) from a power-flow or fault result."""
    kv = result.grid.bus(meter.bus).kv
    out = np.zeros(len(CHANNELS), dtype=np.complex128)
    out[:3] = result.phase_voltages(meter.bus) * kv * 1e3 / math.sqrt(3)
    if meter.branch is not None:
        out[3:] = result.phase_currents(meter.branch, meter.bus)
    return out
