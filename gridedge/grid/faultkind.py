"""Fault kinds: which phases a fault joins and whether to earth (no solver needed)."""

from dataclasses import dataclass

from gridedge.errors import InvalidInputError

PHASES = "abc"


@dataclass(frozen=True)
class FaultKind:
    """Which phases a fault joins, and whether to earth.

    Attributes
    ----------
    phases : tuple of int
        Faulted phases, 0 = a, 1 = b, 2 = c, sorted.
    earthed : bool
        Whether the fault point is earthed.
    """

    phases: tuple[int, ...]
    earthed: bool

    @classmethod
    def parse(cls, text: "str | FaultKind") -> "FaultKind":
        """Parse ``"a-g"``, ``"b-c"``, ``"b-c-g"``, ``"a-b-c"`` and the like.

        Raises
        ------
        InvalidInputError
            Unknown letters, repeated phases, or a single phase without earth.
        """
        if isinstance(text, FaultKind):
            return text
        if not isinstance(text, str):
            raise InvalidInputError(f"fault kind must be a string like 'a-g', got {text!r}")
        parts = [p.strip().lower() for p in text.split("-")]
        earthed = parts[-1] == "g"
        letters = parts[:-1] if earthed else parts
        if not letters or any(p not in PHASES for p in letters) or len(set(letters)) < len(letters):
            raise InvalidInputError(
                f"fault kind {text!r} must list distinct phases a, b, c joined by '-', "
                "optionally ending in '-g' (earth), for example 'a-g', 'b-c', 'b-c-g', 'a-b-c'"
            )
        if len(letters) == 1 and not earthed:
            raise InvalidInputError(f"fault kind {text!r}: a single phase needs '-g'")
        return cls(tuple(sorted(PHASES.index(p) for p in letters)), earthed)

    def __str__(self) -> str:
        return "-".join([PHASES[p] for p in self.phases] + (["g"] if self.earthed else []))

    def phase_resistance(self, resistance_ohm: float) -> float:
        """Resistance of each faulted phase to the common point, ohm.

        `resistance_ohm` is the resistance to earth of each phase for earthed kinds, between
        the two phases for a two-phase fault, and of each phase to the star point for a
        three-phase fault.
        """
        if len(self.phases) == 2 and not self.earthed:
            return resistance_ohm / 2
        return resistance_ohm
