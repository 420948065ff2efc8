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
    """The selected backend cannot be imported: a kernel not compiled, a driver not installed."""


class NotFoundError(GridedgeError, LookupError):
    """A named element (device, service, package, topology version) does not exist."""


class ConflictError(GridedgeError, ValueError):
    """A request contradicts the stored state (for example a package version that goes down)."""


class PreconditionFailedError(GridedgeError, ValueError):
    """A revision the caller based its change on is no longer the current one."""


class AuthenticationError(GridedgeError, PermissionError):
    """Credentials are missing or not valid."""


class AccessDeniedError(GridedgeError, PermissionError):
    """Valid credentials that do not allow the requested operation."""


class VerificationError(GridedgeError, ValueError):
    """A signed artefact failed a check: signature, digest, version or expiry."""


class MissingProgramError(GridedgeError, FileNotFoundError):
    """A program gridedge starts (the Mosquitto broker, for example) is not installed."""


class ServiceError(GridedgeError, RuntimeError):
    """A part of the distributed system exited, or did not do its part in time."""


class BrokerUnavailableError(GridedgeError, ConnectionError):
    """An MQTT broker could not be reached or refused the connection."""


class InvalidDocumentError(InvalidInputError):
    """A well-formed document whose content does not hold together (a grid that is not one)."""


class ConvergenceError(GridedgeError, ArithmeticError):
    """An iterative solver did not converge (for example a power flow beyond voltage collapse)."""


class CatalogUnavailableError(GridedgeError, ConnectionError):
    """The Device Catalog could not be reached, or answered with a server error."""


class AcquisitionError(GridedgeError, OSError):
    """An acquisition device failed: not found, disconnected, stalled or stopped scanning."""


class IsolationError(GridedgeError, RuntimeError):
    """A faulted section cannot be isolated by remote switching (no switch towards a source)."""


class FaultLocationError(GridedgeError, ValueError):
    """No point of the feeder explains the measured phasors.

    The fault lies elsewhere, or the measurements contradict the grid model.
    """


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
