"""The measurement chain between the grid and a meter: sensors and a 12-bit USB DAQ.

As in the paper's laboratory, each of the six signals reaches the DAQ as a voltage in
[0, +10] V: the sensor maps ``-full_scale .. +full_scale`` (primary V or A, instantaneous)
onto 0 .. 10 V, zero at 5 V, and saturates outside. The DAQ, modelled on the Measurement
Computing USB-200 series the paper used, converts on its +-10 V range with 12 bits
(LSB = 20 V / 4096 = 4.88 mV; the [0, 10] V signal uses the upper half of the codes) and adds
input noise. Raw samples are in DAQ volts, on the code grid; :class:`ChannelScaling` maps
them back to primary units.

Figures used (the datasheet's resolution and range; the noise is our assumption, of the order
of a 12-bit converter's transition noise):

========================  ===========================================
resolution                12 bits
input range               +-10 V (bipolar, single-ended)
sensor output             0 .. 10 V, zero at 5 V
input noise               1 LSB rms, white, Gaussian (assumed)
voltage full scale        +-2 x nominal peak phase voltage
current full scale        +-25 x peak rated current of the sensors
                          (``Meter.current_rating_a``, else the branch's)
========================  ===========================================
"""

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from gridedge.channels import ChannelScaling
from gridedge.errors import ConfigurationError

SENSOR_SPAN_V = (0.0, 10.0)
"""Output range of the sensors (and analog outputs), V."""


@dataclass(frozen=True)
class DaqSettings:
    """The measurement chain's parameters (loadable with :func:`gridedge.config.load`).

    Attributes
    ----------
    bits : int
        ADC resolution.
    input_range_v : float
        The ADC converts -input_range_v .. +input_range_v.
    noise_lsb : float
        Input noise, LSB rms.
    voltage_full_scale_pu : float
        Instantaneous voltage (in p.u. of the nominal peak phase voltage) mapped to 10 V.
    current_full_scale : float
        Instantaneous current (in multiples of the sensors' peak rated current,
        ``Meter.current_rating_a`` or the branch's) mapped to 10 V.
    """

    bits: int = 12
    input_range_v: float = 10.0
    noise_lsb: float = 1.0
    voltage_full_scale_pu: float = 2.0
    current_full_scale: float = 25.0

    def __post_init__(self) -> None:
        if not 1 <= self.bits <= 24:
            raise ConfigurationError(f"bits must lie in 1..24, got {self.bits}")
        for name in ("input_range_v", "voltage_full_scale_pu", "current_full_scale"):
            if not getattr(self, name) > 0:
                raise ConfigurationError(f"{name} must be > 0, got {getattr(self, name)}")
        if not self.noise_lsb >= 0:
            raise ConfigurationError(f"noise_lsb must be >= 0, got {self.noise_lsb}")
        if self.input_range_v < SENSOR_SPAN_V[1]:
            raise ConfigurationError(
                f"input_range_v must cover the sensors' {SENSOR_SPAN_V[1]} V, "
                f"got {self.input_range_v}"
            )

    @property
    def lsb_v(self) -> float:
        """One code step, V."""
        return 2 * self.input_range_v / 2**self.bits

    @property
    def noise_rms_v(self) -> float:
        """Standard deviation of one sample's error, V: the input noise and the rounding.

        Rounding a signal dithered by the noise errs uniformly within half a code, adding
        1/12 LSB^2 of variance; times the sensors' gain this is each channel's sample noise
        in primary units.
        """
        return self.lsb_v * (self.noise_lsb**2 + 1.0 / 12.0) ** 0.5

    def scaling(self, voltage_peak: float, current_peak: float) -> ChannelScaling:
        """Scaling of a meter whose sensors map +-`voltage_peak` V and +-`current_peak` A.

        Parameters
        ----------
        voltage_peak : float
            Instantaneous phase voltage at full scale, V.
        current_peak : float
            Instantaneous current at full scale, A.
        """
        low, high = SENSOR_SPAN_V
        half = (high - low) / 2
        gain = np.array([voltage_peak / half] * 3 + [current_peak / half] * 3)
        return ChannelScaling(gain=gain, offset=-(low + half) * gain)

    def code_map(
        self, gain: NDArray[np.float64], offset: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Affine map from primary values to the ADC's code scale, ``code = scale x + shift``.

        Parameters
        ----------
        gain, offset : ndarray of float64
            The sensors' :class:`ChannelScaling` (primary units per DAQ volt, primary value
            of 0 V), any matching shapes.
        """
        lsb = self.lsb_v
        scale = 1.0 / (gain * lsb)
        return scale, (self.input_range_v - offset / gain) / lsb

    def quantise(self, analog: NDArray[np.floating], noise: NDArray[np.float32]) -> NDArray:
        """Turn analog values on the code scale into ADC codes, in place.

        The sensors saturate at their span, the input noise (`noise`, standard normal, same
        shape) adds, and the converter rounds and saturates at its code range.
        """
        low, high = ((v + self.input_range_v) / self.lsb_v for v in SENSOR_SPAN_V)
        np.clip(analog, low, high, out=analog)
        analog += self.noise_lsb * noise
        np.rint(analog, out=analog)
        np.clip(analog, 0, 2**self.bits - 1, out=analog)
        return analog

    def volts(self, codes: NDArray[np.floating]) -> NDArray[np.float64]:
        """DAQ volts of ADC codes, float64 (what the DAQ driver reports)."""
        return codes.astype(np.float64) * self.lsb_v - self.input_range_v


class NoiseTable:
    """Reproducible Gaussian noise, cheap enough for real-time synthesis of many meters.

    One table of standard normal draws is made from the seed; each block of noise is a
    window of it at an offset drawn from (seed, block). Within a window the draws are
    independent; windows of different blocks may overlap, a repetition only a correlation
    search across blocks would find. Drawing fresh normals instead costs more than the rest
    of the synthesis together (see ``docs/performance.md``).

    Parameters
    ----------
    seed : int
    block_length : int
        Values per block.
    """

    MIN_SIZE = 1 << 20

    def __init__(self, seed: int, block_length: int) -> None:
        self.seed = seed
        self.block_length = block_length
        size = max(self.MIN_SIZE, 4 * block_length)
        generator = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed])))
        self._table = generator.standard_normal(size, dtype=np.float32)

    def block(self, index: int) -> NDArray[np.float32]:
        """Noise block `index`, shape (block_length,), standard normal (a read-only view)."""
        generator = np.random.Generator(np.random.PCG64(np.random.SeedSequence([self.seed, index])))
        start = int(generator.integers(0, self._table.size - self.block_length + 1))
        window = self._table[start : start + self.block_length]
        window.flags.writeable = False
        return window
