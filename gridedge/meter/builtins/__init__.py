"""The built-in algorithms: shipped inside gridedge as source, run as signed packages.

A meter runs nothing that did not come as a verified package, built-ins included: they take
the same path as any other algorithm (catalog, download, verification, probation), and can
be updated or removed the same way. ``gridedge algorithms build --key KEY --out DIR``
packages them, signed with the operator's key; the operator uploads them to the catalog. The
payload of each is one module of this directory; it imports the rest of gridedge (the phasor
frames, the plugin contract) from the meter's installation.
"""

import dataclasses
import datetime
from importlib import resources
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


@dataclasses.dataclass(frozen=True)
class Builtin:
    """A built-in algorithm: package name, version, and its module in this directory."""

    name: str
    version: str
    module: str

    @property
    def entry_point(self) -> str:
        """``module:create``."""
        return f"{self.module}:create"


BUILTINS = (
    Builtin("phasor-publisher", "1.0.0", "phasor_publisher"),
    Builtin("fault-detector", "1.0.0", "fault_detector"),
    Builtin("fault-reporter", "1.0.0", "fault_reporter"),
    Builtin("power-quality", "1.0.0", "power_quality"),
    Builtin("se-lv", "1.0.0", "se_lv"),
    Builtin("se-mv", "1.0.0", "se_mv"),
)


def source(builtin: Builtin) -> bytes:
    """The module's source, as it goes into the payload."""
    return resources.files(__name__).joinpath(f"{builtin.module}.py").read_bytes()


def build(
    builtin: Builtin,
    private_key: "Ed25519PrivateKey",
    expires: datetime.datetime,
    *,
    version: str | None = None,
) -> bytes:
    """Build and sign the package of a built-in (optionally under another version)."""
    from gridedge import packages

    return packages.build(
        name=builtin.name,
        version=version or builtin.version,
        entry_point=builtin.entry_point,
        files={f"{builtin.module}.py": source(builtin)},
        expires=expires,
        private_key=private_key,
    )
