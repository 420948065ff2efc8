"""The ``gridedge meter`` and ``gridedge algorithms`` commands."""

import argparse
import dataclasses
import datetime
import os
from pathlib import Path
from typing import TextIO

from gridedge import config
from gridedge.errors import ConfigurationError
from gridedge.meter.provisioning import SECTION, Provisioning

# mallopt's parameter for the number of malloc arenas (glibc's malloc.h).
_M_ARENA_MAX = -8


def add_meter_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``gridedge meter`` (each overrides the provisioning file)."""
    parser.add_argument("--provisioning", type=Path, help="TOML or JSON file with a [meter] table")
    parser.add_argument("--device-id", help="this meter's id in the catalog")
    parser.add_argument("--catalog", help="base URL of the Device Catalog")
    parser.add_argument("--credential", type=Path, help="file holding the meter's bearer token")
    parser.add_argument("--state-dir", type=Path, help="settings, packages and outbox live here")
    parser.add_argument(
        "--trusted-key",
        action="append",
        default=[],
        help="Ed25519 public key (64 hex digits) trusted to sign packages; repeatable",
    )


def provisioning(args: argparse.Namespace) -> Provisioning:
    """Provisioning from defaults, the file, ``GRIDEDGE_METER_*`` and the command line."""
    loaded = config.load(Provisioning, args.provisioning, section=SECTION)
    overrides = {
        "device_id": args.device_id,
        "catalog_url": args.catalog,
        "credential": args.credential,
        "state_dir": args.state_dir,
        "trusted_keys": tuple(args.trusted_key) or None,
    }
    return dataclasses.replace(loaded, **{k: v for k, v in overrides.items() if v is not None})


def one_malloc_arena() -> bool:
    """Make every thread allocate from glibc's main arena, as ``MALLOC_ARENA_MAX=1`` does.

    glibc gives each thread that allocates an arena of its own (up to eight per core), and
    memory freed in one stays resident there. The daemon's threads allocate little, and mostly
    while holding the GIL, so extra arenas buy no parallelism; they cost about 1 MB of its
    resident memory. glibc reads the variable only at start-up, hence ``mallopt``, which must
    run before any thread allocates. A ``MALLOC_ARENA_MAX`` in the environment is left alone.

    Returns
    -------
    bool
        Whether the limit was set (false with the variable set, or without glibc's mallopt).
    """
    if "MALLOC_ARENA_MAX" in os.environ:
        return False
    import ctypes  # only the meter needs it, and numpy imports it there anyway

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_ARENA_MAX, 1))


def run_meter(args: argparse.Namespace) -> int:
    """Run the meter daemon until SIGTERM or SIGINT."""
    one_malloc_arena()  # before the daemon's threads start
    from gridedge.meter.daemon import run

    run(provisioning(args))
    return 0


def add_algorithms_arguments(parser: argparse.ArgumentParser) -> None:
    """Subcommands of ``gridedge algorithms``."""
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    keygen = actions.add_parser("keygen", help="make an Ed25519 key for signing packages")
    keygen.add_argument("key", type=Path, help="file to write the private key to (mode 0600)")
    build = actions.add_parser("build", help="build and sign the packages of the built-ins")
    build.add_argument("--key", type=Path, required=True, help="private key file (keygen)")
    build.add_argument("--out", type=Path, required=True, help="directory for the packages")
    build.add_argument("--days", type=int, default=365, help="days until the packages expire")


def run_algorithms(args: argparse.Namespace, *, stream: TextIO) -> int:
    """Run ``gridedge algorithms keygen|build``."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        NoEncryption,
        PrivateFormat,
        PublicFormat,
    )

    if args.action == "keygen":
        key = Ed25519PrivateKey.generate()
        raw = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        descriptor = os.open(args.key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as output:
            output.write(raw.hex() + "\n")
        public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()
        print(f"public key: {public}  (meter.trusted_keys, catalog.package_keys)", file=stream)
        return 0
    from gridedge.meter.builtins import BUILTINS, build

    try:
        key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(args.key.read_text().strip()))
    except (OSError, ValueError) as exc:
        raise ConfigurationError(
            f"--key {args.key}: not a private key written by keygen ({exc})"
        ) from None
    expires = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=args.days)
    args.out.mkdir(parents=True, exist_ok=True)
    for builtin in BUILTINS:
        path = args.out / f"{builtin.name}-{builtin.version}.zip"
        path.write_bytes(build(builtin, key, expires))
        print(f"{path}  PUT /v1/algorithms/{builtin.name}/{builtin.version}", file=stream)
    return 0
