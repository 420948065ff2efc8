"""Reading a meter's portion of the topology (``context.topology``) for its algorithms.

The catalog sends each meter the region it observes (its feeder) and every element touching
it, in the grid JSON format (``gridedge/catalog/topology.py``). Algorithms that take their grid
by test-case name apply the portion's switch states to it and find their neighbours there.
"""

from collections.abc import Mapping
from typing import Any


def switch_states(portion: Mapping[str, Any] | None) -> dict[str, bool]:
    """Switch states of the portion (none: the grid's own)."""
    if not portion:
        return {}
    return {s["id"]: bool(s.get("closed", True)) for s in portion.get("switches", [])}


def region(portion: Mapping[str, Any] | None) -> frozenset[str]:
    """Buses of the region the meter observes (empty without a portion)."""
    return frozenset(portion.get("region", [])) if portion else frozenset()


def other_meters(portion: Mapping[str, Any] | None, meter_id: str) -> tuple[str, ...]:
    """The meters of the portion other than `meter_id`, sorted."""
    if not portion:
        return ()
    return tuple(sorted({m["id"] for m in portion.get("meters", [])} - {meter_id}))
