"""The catalog's view of grid topology documents, through :mod:`gridedge.grid`."""

from typing import Any

from gridedge.errors import InvalidDocumentError, InvalidInputError


def check(document: dict[str, Any]) -> Any:
    """Parse a topology document into a grid.

    Raises
    ------
    InvalidDocumentError
        The document is not a valid grid; the message names the element.
    """
    from gridedge.grid import from_dict

    try:
        return from_dict(document)
    except InvalidInputError as exc:
        raise InvalidDocumentError(f"topology: {exc}") from None


def meters(grid: Any) -> frozenset[str]:
    """Return the ids of every meter of a grid."""
    return frozenset(meter.id for meter in grid.meters)


def affected(old: Any, new: Any) -> frozenset[str]:
    """Return the ids of the meters whose portion of the grid differs between two versions."""
    from gridedge.grid.topology import affected_meters

    return affected_meters(old, new)


def portion(grid: Any, meter_id: str, *, version: int) -> dict[str, Any] | None:
    """Return the part of the topology a meter's settings carry, or None if it is not in it."""
    if meter_id not in meters(grid):
        return None
    return {"version": version, "meter": meter_id}
