"""The exception hierarchy of gridedge.

Every error raised on purpose derives from :class:`GridedgeError` and from the built-in
exception a caller would otherwise expect, so ``except ValueError`` keeps working.
"""


class GridedgeError(Exception):
    """Base class of every error gridedge raises on purpose."""


class ConfigurationError(GridedgeError, ValueError):
    """A setting is missing, malformed or outside the supported range."""


class InvalidInputError(GridedgeError, ValueError):
    """Data handed to a function has the wrong shape, type or values."""


class BackendUnavailableError(GridedgeError, ImportError):
    """The selected kernel backend cannot be imported (for example, not compiled)."""


class ConvergenceError(GridedgeError, ArithmeticError):
    """An iterative solver did not converge (for example a power flow beyond voltage collapse)."""


class UnobservableError(InvalidInputError):
    """The measurements do not determine the state of some buses.

    Attributes
    ----------
    buses : tuple of str
        Ids of the buses whose voltage the measurements leave undetermined.
    """

    def __init__(self, message: str, buses: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.buses = tuple(buses)
