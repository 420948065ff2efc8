"""Fixtures of the meter tests: a simulated MCC USB-200 board behind the real uldaq package.

``usb200_sim.c`` is built with the system C compiler as ``libuldaq.so`` and loaded with
RTLD_GLOBAL before ``uldaq`` is imported. uldaq opens the library by the bare name
``libuldaq.so`` when ``ctypes.util.find_library`` finds none, and the dynamic loader then
returns the library already loaded under that soname: the simulator.
"""

import ctypes
import ctypes.util
import importlib
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from unittest import mock

import numpy as np
import pytest

SIMULATOR_SOURCE = Path(__file__).with_name("usb200_sim.c")
INPUTS = 8


class SimulatedBoards:
    """The control side of the simulator: boards on a simulated USB, and their signal."""

    def __init__(self, library: ctypes.CDLL) -> None:
        self.library = library
        double_inputs = ctypes.POINTER(ctypes.c_double)
        library.sim_plug.argtypes = (ctypes.c_char_p, ctypes.c_uint, ctypes.c_char_p)
        library.sim_plug.restype = ctypes.c_int
        for name in ("sim_unplug", "sim_overrun"):
            getattr(library, name).argtypes = (ctypes.c_char_p,)
        library.sim_pause.argtypes = (ctypes.c_char_p, ctypes.c_int)
        library.sim_set_signal.argtypes = (
            ctypes.c_double,
            double_inputs,
            double_inputs,
            double_inputs,
        )

    def plug(self, unique_id: str, product: str = "USB-201", product_id: int = 0x113) -> None:
        assert self.library.sim_plug(product.encode(), product_id, unique_id.encode()) >= 0

    def unplug(self, unique_id: str) -> None:
        self.library.sim_unplug(unique_id.encode())

    def overrun(self, unique_id: str) -> None:
        """Make the board's FIFO overflow: its scan stops with an overrun error."""
        self.library.sim_overrun(unique_id.encode())

    def pause(self, unique_id: str, paused: bool = True) -> None:
        """Stop (or resume) the board's data without an error, as a hung board would."""
        self.library.sim_pause(unique_id.encode(), int(paused))

    def signal(self, frequency: float, amplitude, phase, offset) -> None:
        """Input k: ``offset[k] + amplitude[k] cos(2 pi f t + phase[k])`` volts.

        t counts from 0 at the start of each scan.
        """

        def inputs(values) -> ctypes.Array:
            padded = np.zeros(INPUTS)
            padded[: len(values)] = values
            return (ctypes.c_double * INPUTS)(*padded)

        self.library.sim_set_signal(frequency, inputs(amplitude), inputs(phase), inputs(offset))

    def reset(self) -> None:
        self.library.sim_reset()


@pytest.fixture
def wait_until() -> Callable[..., None]:
    """Polls a condition until it holds; fails after `timeout` s (threads may start late)."""

    def wait(condition: Callable[[], bool], timeout: float = 5.0) -> None:
        end = time.monotonic() + timeout
        while not condition():
            assert time.monotonic() < end, f"not within {timeout} s: {condition}"
            time.sleep(0.005)

    return wait


@pytest.fixture(scope="session")
def simulator_library(tmp_path_factory: pytest.TempPathFactory) -> ctypes.CDLL:
    """The simulator built as libuldaq.so, with uldaq imported against it."""
    compiler = shutil.which("gcc")
    assert compiler, "the uldaq tests build a simulated libuldaq.so with gcc"
    library = tmp_path_factory.mktemp("libuldaq") / "libuldaq.so"
    subprocess.run(
        [
            *(compiler, "-shared", "-fPIC", "-O2", "-Wall", "-Wextra", "-Werror", "-pthread"),
            *("-Wl,-soname,libuldaq.so", "-o", str(library), str(SIMULATOR_SOURCE), "-lm"),
        ],
        check=True,
    )
    loaded = ctypes.CDLL(str(library), mode=ctypes.RTLD_GLOBAL)
    with mock.patch("ctypes.util.find_library", return_value=None):
        uldaq = importlib.import_module("uldaq")
    assert uldaq.ul_c_interface.lib._handle == loaded._handle, "uldaq bound another libuldaq"
    return loaded


@pytest.fixture
def boards(simulator_library: ctypes.CDLL) -> Iterator[SimulatedBoards]:
    """A simulated USB with no board plugged in; a three-phase signal on inputs 0-5."""
    simulated = SimulatedBoards(simulator_library)
    simulated.reset()
    shift = np.array([0.0, -2 * np.pi / 3, 2 * np.pi / 3])
    simulated.signal(
        50.0, [7.0] * 3 + [5.0] * 3, np.concatenate([shift, shift - np.pi / 6]), [0.0] * 6
    )
    yield simulated
    simulated.reset()


@pytest.fixture
def open_daq(boards: SimulatedBoards) -> Iterator[Callable[..., object]]:
    """Opens DaqSources and closes them all at the end of the test."""
    from gridedge.meter.daq import DaqSettings, DaqSource

    opened: list[DaqSource] = []

    def open_source(**settings: object) -> DaqSource:
        source = DaqSource(DaqSettings(**settings))  # type: ignore[arg-type]
        opened.append(source)
        return source

    yield open_source
    for source in opened:
        source.close()
