"""Operating limits and search bounds of the restoration planner (section ``reconfiguration``)."""

import math
import os
from dataclasses import dataclass

from gridedge import config
from gridedge.errors import ConfigurationError

SECTION = "reconfiguration"


@dataclass(frozen=True)
class Limits:
    """What a restored configuration must respect, and how far the search goes.

    Attributes
    ----------
    v_min_pu, v_max_pu : float
        Bus voltage band, p.u. of nominal (EN 50160: +-10 %).
    max_loading : float
        Largest current of a line (over its ``ampacity_a``) or transformer (over its rated
        current) as a fraction; elements without a rating are not checked.
    max_openings : int
        Sectionalising switches the plan may open inside the outage, besides isolating the
        fault, to split it between ties or to leave out what no tie can carry.
    max_closings : int
        Tie switches the plan may close.
    tolerance_pu : float
        Convergence threshold of the power flow, p.u.
    max_iterations : int
        Iterations of the power flow before a configuration counts as voltage collapse.
    """

    v_min_pu: float = 0.9
    v_max_pu: float = 1.1
    max_loading: float = 1.0
    max_openings: int = 2
    max_closings: int = 3
    tolerance_pu: float = 1e-10
    max_iterations: int = 60

    def __post_init__(self) -> None:
        numbers = {
            "v_min_pu": self.v_min_pu,
            "v_max_pu": self.v_max_pu,
            "max_loading": self.max_loading,
            "tolerance_pu": self.tolerance_pu,
        }
        for name, value in numbers.items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ConfigurationError(f"limits: {name} must be a number, got {value!r}")
            if not (math.isfinite(value) and value > 0):
                raise ConfigurationError(f"limits: {name} must be positive, got {value!r}")
        if self.v_min_pu >= self.v_max_pu:
            raise ConfigurationError(
                f"limits: v_min_pu ({self.v_min_pu}) must be below v_max_pu ({self.v_max_pu})"
            )
        for name in ("max_openings", "max_closings", "max_iterations"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigurationError(
                    f"limits: {name} must be a whole number >= 0, got {value!r}"
                )
        if self.max_iterations < 1:
            raise ConfigurationError("limits: max_iterations must be at least 1")


def load_limits(path: str | os.PathLike[str] | None = None) -> Limits:
    """Return the limits: defaults, the ``[reconfiguration]`` table of `path`, the environment.

    Variables are named ``GRIDEDGE_RECONFIGURATION_<FIELD>`` (see :func:`gridedge.config.load`).
    """
    return config.load(Limits, path, section=SECTION)


SERVICE_SECTION = "reconfigure"


@dataclass(frozen=True)
class ServiceSettings:
    """How the reconfiguration service carries a plan out (section ``reconfigure``).

    Attributes
    ----------
    ack_timeout_s : float
        Longest wait for a switch's answer to one command, s (an ``operate`` is answered
        once the switch has moved).
    command_expiry_s : float
        Lifetime of a command: the broker drops it and the switch refuses it afterwards, s.
    clearing_wait_s : float
        Longest wait for protection to have cleared the fault (a breaker opened by
        ``protection`` since the inception) before the first switch is operated, s:
        isolating switches open dead, never under fault current.
    act_on_ambiguous : bool
        Carry out plans for locations the meter flags ambiguous (default: report and wait
        for an operator).
    topology_attempts : int
        Attempts to post the new topology when another change came first (412).
    """

    ack_timeout_s: float = 5.0
    command_expiry_s: float = 2.0
    clearing_wait_s: float = 3.0
    act_on_ambiguous: bool = False
    topology_attempts: int = 3

    def __post_init__(self) -> None:
        for name in ("ack_timeout_s", "command_expiry_s", "clearing_wait_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ConfigurationError(
                    f"{SERVICE_SECTION}.{name} must be positive, got {value!r}"
                )
        if self.topology_attempts < 1:
            raise ConfigurationError(f"{SERVICE_SECTION}.topology_attempts must be at least 1")
