"""Replay of a COMTRADE record as a meter's acquisition source.

The record's analog channels are mapped onto Va, Vb, Vc, Ia, Ib, Ic, either by the names
or numbers given in the settings or, by default, by each channel's phase (``A``, ``B``,
``C``, also ``L1``-``L3`` or ``R``, ``S``, ``T``) and unit (volts or amperes). The source
hands out the stored values ``x`` of the data file; its :attr:`ComtradeReplay.scaling`
turns them into primary volts and amperes with the record's ``a``, ``b``, ratio and PS
flag and the unit's prefix (``kV`` counts 1000 V). The sampling rate and the absolute time
of sample 0 come from the configuration; a record without one constant rate is refused.
Replay runs in real time (:class:`~gridedge.meter.pacing.Pacer`) or as fast as possible.
"""

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from gridedge.channels import CHANNELS, ChannelScaling
from gridedge.errors import ConfigurationError, InvalidInputError
from gridedge.meter import comtrade
from gridedge.meter.pacing import Pacer

logger = logging.getLogger(__name__)

_PHASES = {"A": ("A", "L1", "R"), "B": ("B", "L2", "S"), "C": ("C", "L3", "T")}
_UNITS = {
    "V": {"V": 1.0, "kV": 1e3, "KV": 1e3, "MV": 1e6, "mV": 1e-3},
    "A": {"A": 1.0, "kA": 1e3, "KA": 1e3, "mA": 1e-3},
}


@dataclass(frozen=True)
class ReplaySettings:
    """Settings of the COMTRADE replay backend (section ``replay`` of the meter's settings).

    Attributes
    ----------
    path : Path
        The record: a ``.cfg`` file (its ``.dat`` beside it) or a ``.cff`` file.
    channels : tuple of str
        The record's analog channel for Va, Vb, Vc, Ia, Ib, Ic, each by name (``ch_id``)
        or by number (``An``, from 1). Empty: chosen by phase and unit.
    realtime : bool
        Deliver samples at the record's rate (True) or as fast as they are read (False).
    """

    path: Path | None = None
    channels: tuple[str, ...] = ()
    realtime: bool = True


def unit_factor(channel: comtrade.AnalogChannel, quantity: str) -> float:
    """Factor from the channel's unit to volts (`quantity` "V") or amperes ("A").

    Raises
    ------
    InvalidInputError
        If the unit is not one of the quantity (V, kV, MV, mV or A, kA, mA).
    """
    units = _UNITS[quantity]
    unit = channel.unit.strip()
    if unit not in units:
        kind = "voltage" if quantity == "V" else "current"
        raise InvalidInputError(
            f"analog channel {channel.name!r} has unit {channel.unit!r}, which is not a {kind} "
            f"unit ({', '.join(units)})"
        )
    return units[unit]


def _quantity(target: str) -> str:
    return "V" if target.startswith("V") else "A"


def _by_phase(record: comtrade.Record, target: str) -> int:
    phase, quantity = target[1].upper(), _quantity(target)
    found = [
        k
        for k, c in enumerate(record.analog)
        if c.phase.strip().upper() in _PHASES[phase] and c.unit.strip() in _UNITS[quantity]
    ]
    if len(found) != 1:
        names = ", ".join(repr(record.analog[k].name) for k in found) or "none"
        raise InvalidInputError(
            f"{record.path or 'record'}: cannot choose the channel for {target}: analog channels "
            f"of phase {phase} in {quantity} units: {names}; name the six channels in the "
            "replay settings (channels)"
        )
    return found[0]


def _by_name(record: comtrade.Record, target: str, wanted: str | int) -> int:
    names = [c.name for c in record.analog]
    text = str(wanted).strip()
    if text in names:
        return names.index(text)
    folded = [n.casefold() for n in names]
    if folded.count(text.casefold()) == 1:
        return folded.index(text.casefold())
    if text.isdigit() and 1 <= int(text) <= len(names):
        return int(text) - 1
    raise InvalidInputError(
        f"{record.path or 'record'}: no analog channel {wanted!r} for {target}; the record has "
        f"{', '.join(f'{k + 1} {n!r}' for k, n in enumerate(names))}"
    )


def channel_columns(record: comtrade.Record, channels: Sequence[str | int] = ()) -> list[int]:
    """Column of ``record.raw`` holding each of Va, Vb, Vc, Ia, Ib, Ic.

    Parameters
    ----------
    record : comtrade.Record
        The record.
    channels : sequence of str or int
        Six channel names or numbers (from 1), in the order of
        :data:`gridedge.channels.CHANNELS`; empty to choose by phase and unit.

    Returns
    -------
    list of int
        Six distinct 0-based columns.

    Raises
    ------
    InvalidInputError
        A channel is not found, is ambiguous, has the wrong kind of unit, or is used twice.
    """
    if channels and len(channels) != len(CHANNELS):
        raise InvalidInputError(
            f"replay channels must name one analog channel for each of {CHANNELS}, "
            f"got {len(channels)}: {list(channels)}"
        )
    columns = [
        _by_name(record, target, wanted) if channels else _by_phase(record, target)
        for target, wanted in zip(CHANNELS, channels or CHANNELS, strict=True)
    ]
    for target, column in zip(CHANNELS, columns, strict=True):
        unit_factor(record.analog[column], _quantity(target))
    if len(set(columns)) != len(columns):
        used = [record.analog[c].name for c in columns]
        raise InvalidInputError(f"replay channels use an analog channel twice: {used}")
    return columns


class ComtradeReplay:
    """A :class:`~gridedge.meter.acquisition.Source` replaying a COMTRADE record.

    Parameters
    ----------
    record : comtrade.Record
        The record; it must have one constant sampling rate.
    channels : sequence of str or int
        See :func:`channel_columns`.
    realtime : bool, default True
        Pace the samples at the record's rate; False delivers them as fast as they are read.

    Attributes
    ----------
    fs : float
        The record's sampling rate, Hz.
    start_time : float
        Absolute time of the record's first sample, POSIX seconds (UTC).
    scaling : ChannelScaling
        Stored values to primary volts and amperes.
    """

    def __init__(
        self,
        record: comtrade.Record,
        channels: Sequence[str | int] = (),
        *,
        realtime: bool = True,
    ) -> None:
        self.fs = record.constant_rate()
        self.start_time = record.start_time
        columns = channel_columns(record, channels)
        chosen = [record.analog[c] for c in columns]
        factor = [unit_factor(c, _quantity(t)) for c, t in zip(chosen, CHANNELS, strict=True)]
        self.scaling = ChannelScaling(
            gain=[c.gain * f for c, f in zip(chosen, factor, strict=True)],
            offset=[c.offset * f for c, f in zip(chosen, factor, strict=True)],
        )
        skewed = [c.name for c in chosen if c.skew]
        if skewed:
            logger.warning("channel skew of %s is not compensated in replay", skewed)
        self._samples: NDArray[np.float64] = np.ascontiguousarray(record.raw[:, columns])
        self._position = 0
        self._pacer = Pacer(self.fs, realtime=realtime)
        logger.info(
            "replaying %s: %d samples at %g Hz, channels %s",
            record.path or "a record",
            len(record),
            self.fs,
            [c.name for c in chosen],
        )

    @classmethod
    def open(cls, settings: ReplaySettings) -> "ComtradeReplay":
        """Read the record named by `settings` and replay it.

        Raises
        ------
        ConfigurationError
            If no record path is set.
        InvalidInputError
            If the record is malformed or cannot be mapped onto the six channels.
        """
        if settings.path is None:
            raise ConfigurationError("replay.path: the COMTRADE record to replay is not set")
        record = comtrade.read(settings.path)
        return cls(record, settings.channels, realtime=settings.realtime)

    @property
    def remaining(self) -> int:
        """Samples not yet read."""
        return self._samples.shape[0] - self._position

    def read(self, max_samples: int) -> tuple[int, NDArray[np.float64]]:
        """Return ``(first_index, samples)``: up to `max_samples` rows (n, 6), stored units.

        In real time, waits until the last of them is due; zero rows once the record is over.
        """
        if max_samples < 0:
            raise InvalidInputError(f"max_samples must not be negative, got {max_samples}")
        first = self._position
        count = min(max_samples, self.remaining)
        self._pacer.wait_for(first + count)
        self._position += count
        return first, self._samples[first : first + count].copy()

    def close(self) -> None:
        """Forget the remaining samples: later reads return zero rows."""
        self._position = self._samples.shape[0]
