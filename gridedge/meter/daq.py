"""Acquisition from a Measurement Computing USB DAQ through MCC's ``uldaq`` package.

The paper's meter samples six single-ended inputs (Va, Vb, Vc, Ia, Ib, Ic on channels 0-5)
of a 12-bit MCC USB-200 series board at 3.2 or 6.4 kHz each. :class:`DaqSource` finds the
board (by unique id or product), checks that it can scan six channels at the rate and range
asked for, and runs one continuous hardware-paced scan into a circular buffer of
``buffer_seconds``. :meth:`DaqSource.read` copies the rows that arrived since the last read,
as the scan status counts them.

Overruns, and how they show:

* the board's FIFO overflowed (USB not served in time): the scan stops with an overrun
  error. The source counts it (:attr:`DaqSource.device_overruns`), starts a new scan, and
  jumps the sample index by the time lost, estimated from the host's monotonic clock;
* the host did not read for longer than the buffer holds: rows were overwritten before they
  were read. The source counts it (:attr:`DaqSource.buffer_overruns`) and jumps the index
  past them. Rows overwritten while they were being copied are caught the same way.

Either way the index returned by :meth:`~DaqSource.read` has a gap of exactly the rows
known lost (:attr:`DaqSource.lost_samples`), and the consumer (the acquisition pump, the
phasor estimator) restarts there. A board that disappears, or stops delivering rows for
``stall_timeout``, raises :class:`~gridedge.errors.AcquisitionError`.

``uldaq`` is imported only when this backend is used: it needs MCC's C library
``libuldaq.so``, which no Linux distribution packages.
"""

import importlib
import logging
import math
import time
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np
from numpy.typing import NDArray

from gridedge.channels import CHANNELS, ChannelScaling
from gridedge.errors import AcquisitionError, BackendUnavailableError, ConfigurationError

logger = logging.getLogger(__name__)

_OVERRUNS = ("OVERRUN", "ADC_OVERRUN", "PACER_OVERRUN")
"""ULError names of a scan stopped because the board's buffer overflowed."""

_RATE_WARNING = 1e-6
_RATE_LIMIT = 1e-3
"""Relative difference between the rate asked for and the board's: warn above, refuse above."""


@dataclass(frozen=True)
class DaqSettings:
    """Settings of the uldaq backend (section ``daq`` of the meter's settings).

    Attributes
    ----------
    unique_id : str, optional
        Serial number of the board to use; any board when unset.
    product : str, optional
        Product name (``"USB-201"``) or numeric product id (``"0x113"``) of the board.
    fs : float
        Samples per second of each channel, Hz (3200 or 6400 in the paper).
    input_range : str
        A ``uldaq.Range`` name: ``"BIP10VOLTS"`` (+-10 V) or ``"UNI10VOLTS"`` (0-10 V).
    gain : tuple of float, length 6
        Primary volts (Va-Vc) or amperes (Ia-Ic) per volt at the board's input.
    zero : tuple of float, length 6
        Input voltage of a primary zero, V: 5.0 for signals centred in a 0-10 V range.
    buffer_seconds : float
        Length of the circular scan buffer, s: how long reading may pause without loss.
    stall_timeout : float
        Seconds without a new row after which the board counts as lost.
    """

    unique_id: str | None = None
    product: str | None = None
    fs: float = 3200.0
    input_range: str = "BIP10VOLTS"
    gain: tuple[float, ...] = (1.0,) * len(CHANNELS)
    zero: tuple[float, ...] = (0.0,) * len(CHANNELS)
    buffer_seconds: float = 2.0
    stall_timeout: float = 1.0

    def __post_init__(self) -> None:
        for name in ("fs", "buffer_seconds", "stall_timeout"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ConfigurationError(f"daq.{name} must be a positive number, got {value!r}")
        if self.buffer_seconds * self.fs < 2:
            raise ConfigurationError(
                f"daq.buffer_seconds {self.buffer_seconds} holds fewer than 2 rows at {self.fs} Hz"
            )
        _input_scaling(self.gain, self.zero)

    @property
    def scaling(self) -> ChannelScaling:
        """Input volts to primary units: ``gain * (v - zero)``."""
        return _input_scaling(self.gain, self.zero)


def _input_scaling(gain: tuple[float, ...], zero: tuple[float, ...]) -> ChannelScaling:
    if len(gain) != len(CHANNELS) or len(zero) != len(CHANNELS):
        raise ConfigurationError(
            f"daq.gain and daq.zero need one value per channel {CHANNELS}, "
            f"got {len(gain)} and {len(zero)}"
        )
    factor = np.asarray(gain, dtype=np.float64)
    try:
        return ChannelScaling(gain=factor, offset=-factor * np.asarray(zero, dtype=np.float64))
    except ConfigurationError as exc:
        raise ConfigurationError(f"daq.gain, daq.zero: {exc}") from exc


@dataclass(frozen=True)
class DeviceDescription:
    """A board found on USB.

    Attributes
    ----------
    product_name : str
        For example ``"USB-201"``.
    product_id : int
        MCC's numeric product id.
    unique_id : str
        Serial number.
    """

    product_name: str
    product_id: int
    unique_id: str

    def __str__(self) -> str:
        return f"{self.product_name} (unique id {self.unique_id})"


def load_uldaq() -> ModuleType:
    """Import ``uldaq``.

    Raises
    ------
    BackendUnavailableError
        With what to install: the package, or MCC's C library it needs.
    """
    try:
        return importlib.import_module("uldaq")
    except OSError as exc:
        raise BackendUnavailableError(
            f"the uldaq acquisition backend needs MCC's C library libuldaq.so ({exc}). "
            "Build and install it from MCC's uldaq source release (github.com/mccdaq/uldaq): "
            "install libusb-1.0-0-dev, then ./configure && make && sudo make install && "
            "sudo ldconfig; or choose another acquisition backend"
        ) from exc
    except ImportError as exc:
        raise BackendUnavailableError(
            "the uldaq acquisition backend needs the uldaq package: "
            "pip install 'gridedge[daq]' (and MCC's C library libuldaq.so)"
        ) from exc


def discover() -> list[DeviceDescription]:
    """The MCC boards connected over USB.

    Raises
    ------
    BackendUnavailableError
        If uldaq or its C library is missing.
    AcquisitionError
        If the library cannot list the devices.
    """
    return [_describe(d) for d in _inventory(load_uldaq())]


def _explain(exc: Exception) -> str:
    """A uldaq error as ``NAME (message)``: its own text shows only the number."""
    code = getattr(exc, "error_code", None)
    message = getattr(exc, "error_message", str(exc))
    return f"{code.name} ({message})" if code is not None else str(exc)


def _describe(descriptor: Any) -> DeviceDescription:
    return DeviceDescription(
        descriptor.product_name, int(descriptor.product_id), descriptor.unique_id
    )


def _inventory(ul: ModuleType) -> list[Any]:
    try:
        return list(ul.get_daq_device_inventory(ul.InterfaceType.USB))
    except ul.ULException as exc:
        raise AcquisitionError(f"cannot list the MCC devices: {_explain(exc)}") from exc


def _matches(description: DeviceDescription, settings: DaqSettings) -> bool:
    if settings.unique_id is not None and description.unique_id != settings.unique_id:
        return False
    if settings.product is None:
        return True
    wanted = settings.product.strip()
    if description.product_name.casefold() == wanted.casefold():
        return True
    try:
        return description.product_id == int(wanted, 0)
    except ValueError:
        return False


def _select(ul: ModuleType, settings: DaqSettings) -> Any:
    """The descriptor of the one board that `settings` designate."""
    descriptors = _inventory(ul)
    found = [d for d in descriptors if _matches(_describe(d), settings)]
    listed = ", ".join(str(_describe(d)) for d in descriptors) or "none"
    if not found:
        wanted = " and ".join(
            f"{name} {value!r}"
            for name, value in (("unique_id", settings.unique_id), ("product", settings.product))
            if value is not None
        )
        raise AcquisitionError(
            f"no MCC DAQ device{' with ' + wanted if wanted else ''} on USB; found: {listed}"
        )
    if len(found) > 1:
        raise ConfigurationError(
            f"daq.unique_id: {len(found)} MCC DAQ devices match ({listed}); set the unique id "
            "of the one to use"
        )
    return found[0]


class DaqSource:
    """A :class:`~gridedge.meter.acquisition.Source` scanning an MCC DAQ continuously.

    Parameters
    ----------
    settings : DaqSettings
        Which board, rate, range and scaling.

    Attributes
    ----------
    fs : float
        Samples per second of each channel, Hz.
    start_time : float
        POSIX time of the first sample: taken when the scan started (to within the USB
        latency, a few milliseconds).
    scaling : ChannelScaling
        Input volts to primary units.
    device : DeviceDescription
        The board in use.
    resolution : int
        Bits of its converter.
    device_overruns, buffer_overruns : int
        Scans stopped by the board's overrun, and host buffer overruns.
    lost_samples : int
        Rows lost to both: the sum of the gaps in the returned indices.

    Raises
    ------
    BackendUnavailableError
        If uldaq or libuldaq is missing.
    AcquisitionError
        If the board is not found or fails.
    ConfigurationError
        If the board cannot scan as the settings ask.

    Notes
    -----
    One thread reads; stop it before :meth:`close`.
    """

    def __init__(self, settings: DaqSettings) -> None:
        self._ul = ul = load_uldaq()
        self.settings = settings
        self.fs = float(settings.fs)
        self.scaling = settings.scaling
        descriptor = _select(ul, settings)
        self.device = _describe(descriptor)
        self.device_overruns = 0
        self.buffer_overruns = 0
        self.lost_samples = 0
        self._rows = max(2, math.ceil(settings.buffer_seconds * self.fs))
        self._buffer = ul.create_float_buffer(len(CHANNELS), self._rows)
        self._view: NDArray[np.float64] = np.ctypeslib.as_array(self._buffer).reshape(
            self._rows, len(CHANNELS)
        )
        self._scan_base = self._scan_read = 0
        self._ai: Any = None
        try:
            self._daq = ul.DaqDevice(descriptor)
        except ul.ULException as exc:
            raise self._failure("opening the device", exc) from exc
        self._closed = False
        try:
            self._daq.connect()
            self._ai = self._daq.get_ai_device()
            if self._ai is None:
                raise AcquisitionError(f"{self.device} has no analog inputs")
            info = self._ai.get_info()
            self.resolution = int(info.get_resolution())
            self._range = self._check(info)
            self._origin = time.monotonic()
            self.start_time = time.time()
            self._start_scan(0)
        except ul.ULException as exc:
            self.close()
            raise self._failure("setting up the scan", exc) from exc
        except BaseException:
            self.close()
            raise
        logger.info(
            "%s: scanning channels 0-%d at %g Hz, %s, %d-bit",
            self.device,
            len(CHANNELS) - 1,
            self.fs,
            settings.input_range,
            self.resolution,
        )

    @property
    def overruns(self) -> int:
        """Device and buffer overruns together."""
        return self.device_overruns + self.buffer_overruns

    def _failure(self, doing: str, exc: Exception) -> AcquisitionError:
        return AcquisitionError(f"{self.device}: {doing} failed: {_explain(exc)}")

    def _check(self, info: Any) -> Any:
        """The uldaq Range of the settings, once the board is known to scan as asked."""
        ul, settings = self._ul, self.settings
        inputs = info.get_num_chans_by_mode(ul.AiInputMode.SINGLE_ENDED)
        if inputs < len(CHANNELS):
            raise AcquisitionError(
                f"{self.device} has {inputs} single-ended inputs; {len(CHANNELS)} are needed"
            )
        ranges = info.get_ranges(ul.AiInputMode.SINGLE_ENDED)
        chosen = getattr(ul.Range, settings.input_range, None)
        if chosen not in ranges:
            raise ConfigurationError(
                f"daq.input_range {settings.input_range!r} is not a single-ended range of "
                f"{self.device}; it has {', '.join(r.name for r in ranges)}"
            )
        if ul.ScanOption.CONTINUOUS not in info.get_scan_options():
            raise AcquisitionError(f"{self.device} cannot scan continuously")
        throughput = info.get_max_throughput()
        if self.fs * len(CHANNELS) > throughput:
            raise ConfigurationError(
                f"daq.fs {self.fs:g} Hz on {len(CHANNELS)} channels is "
                f"{self.fs * len(CHANNELS):g} samples/s, more than the {throughput:g} of "
                f"{self.device}"
            )
        return chosen

    def _start_scan(self, base: int) -> None:
        """Start a continuous scan whose first row has index `base`."""
        ul = self._ul
        actual = self._ai.a_in_scan(
            0,
            len(CHANNELS) - 1,
            ul.AiInputMode.SINGLE_ENDED,
            self._range,
            self._rows,
            self.fs,
            ul.ScanOption.CONTINUOUS,
            ul.AInScanFlag.DEFAULT,
            self._buffer,
        )
        self._scan_base = base
        self._scan_read = 0
        error = abs(actual - self.fs) / self.fs
        if error > _RATE_LIMIT:
            raise ConfigurationError(
                f"daq.fs: {self.device} paces {actual:g} Hz when asked for {self.fs:g} Hz"
            )
        if error > _RATE_WARNING:
            logger.warning(
                "%s paces %.6f Hz, not %g Hz: frequencies read %.2g %% off",
                self.device,
                actual,
                self.fs,
                100 * error,
            )

    def _restart(self, cause: Exception) -> None:
        """Start a new scan after the board's overrun, jumping the index by the time lost."""
        self.device_overruns += 1
        expected = self._scan_base + self._scan_read
        try:
            self._ai.scan_stop()
        except self._ul.ULException as exc:
            logger.debug("%s: stopping the overrun scan: %s", self.device, _explain(exc))
        elapsed = round((time.monotonic() - self._origin) * self.fs)
        base = max(expected, elapsed)
        self._start_scan(base)
        self.lost_samples += base - expected
        logger.warning(
            "%s: %s; scan restarted, %d samples lost before index %d",
            self.device,
            _explain(cause),
            base - expected,
            base,
        )

    def _produced(self) -> int:
        """Rows the current scan has delivered; restarts the scan after a board overrun."""
        ul = self._ul
        try:
            status, transfer = self._ai.get_scan_status()
        except ul.ULException as exc:
            if exc.error_code.name not in _OVERRUNS:
                raise self._failure("the scan", exc) from exc
            try:
                self._restart(exc)
            except ul.ULException as again:
                raise self._failure("restarting the scan", again) from again
            return 0
        if status != ul.ScanStatus.RUNNING:
            raise AcquisitionError(f"{self.device}: the scan stopped")
        return int(transfer.current_scan_count)

    def _lose(self, count: int, index: int, why: str) -> None:
        """Count `count` rows lost to a host buffer overrun before row `index`."""
        self.buffer_overruns += 1
        self.lost_samples += count
        logger.warning("%s: %s; %d samples lost before index %d", self.device, why, count, index)

    def read(self, max_samples: int) -> tuple[int, NDArray[np.float64]]:
        """Return ``(first_index, samples)``: up to `max_samples` new rows (n, 6), input volts.

        Waits until `max_samples` rows are there, or for the time they take to arrive and
        then returns the rows that did (at least one). Zero rows after :meth:`close`.

        Raises
        ------
        AcquisitionError
            If the board failed, disappeared or delivered nothing for ``stall_timeout`` s.
        """
        if max_samples < 1 or self._closed:
            return self._scan_base + self._scan_read, np.empty((0, len(CHANNELS)))
        while True:
            count = min(self._wait(max_samples), max_samples)
            first_row = self._scan_read
            first = self._scan_base + first_row
            rows = self._view[(first_row + np.arange(count)) % self._rows]
            self._scan_read += count
            overruns = self.device_overruns
            produced = self._produced()
            if self.device_overruns != overruns:  # the board had stopped: the copy is intact
                return first, rows
            # The board kept writing during the copy: a row is good only if the board has not
            # come round to its slot again since.
            bad = min(produced - self._rows + 1 - first_row, count)
            if bad <= 0:
                return first, rows
            self._lose(bad, first + bad, "rows overwritten while they were read")
            if bad < count:
                return first + bad, rows[bad:]

    def _wait(self, wanted: int) -> int:
        """Rows ready to read, at least one: waits for up to `wanted` of them."""
        deadline = time.monotonic() + self.settings.stall_timeout
        waited = False
        while True:
            available = self._produced() - self._scan_read
            if available > self._rows:
                # Older rows are overwritten: keep the newest half buffer, which the board
                # will not reach while it is copied.
                lost = available - self._rows // 2
                self._scan_read += lost
                self._lose(
                    lost,
                    self._scan_base + self._scan_read,
                    f"host buffer overrun (not read for over {self.settings.buffer_seconds} s)",
                )
                available -= lost
            if available >= wanted or (available and waited):
                return available
            now = time.monotonic()
            if now > deadline:
                raise AcquisitionError(
                    f"{self.device}: no samples for {self.settings.stall_timeout} s"
                )
            # Sleep for the time the missing rows take, but not past the deadline.
            time.sleep(max(min((wanted - available) / self.fs, deadline - now), 0.001))
            waited = True

    def close(self) -> None:
        """Stop the scan and release the board; safe to call again or after a failure."""
        if self._closed:
            return
        self._closed = True
        if self._ai is not None:
            self._quietly("stopping the scan", self._ai.scan_stop)
        self._quietly("disconnecting", self._daq.disconnect)
        self._quietly("releasing the device", self._daq.release)

    def _quietly(self, doing: str, step: Any) -> None:
        """Run a step of :meth:`close`; a board already gone makes it fail, which is logged."""
        try:
            step()
        except self._ul.ULException as exc:
            logger.warning("%s: %s: %s", self.device, doing, _explain(exc))
