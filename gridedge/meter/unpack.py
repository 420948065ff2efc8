"""Verify an algorithm package and unpack its payload: the meter runs this in a child process.

``python -m gridedge.meter.unpack --into DIR --name NAME --sha256 HEX --key HEX ...`` reads
the package archive from standard input and, in this order:

1. checks the archive's sha256 against the one the settings gave;
2. verifies it with :func:`gridedge.packages.verify`: Ed25519 signature by a trusted key,
   payload digest, interface version, expiry, sizes;
3. checks that it is the package the settings name and that its version is above every
   ``--above`` (the active version, the highest this meter ever activated);
4. unpacks the payload into ``DIR/payload`` (regular files only, no absolute paths, no
   ``..``, a bounded total size), writes the manifest to ``DIR/manifest.json`` and the
   archive's sha256 to ``DIR/package.sha256``, and fsyncs all.

It prints the manifest as JSON and exits 0, or prints the reason and exits
:data:`REFUSED`. Nothing in the payload is imported or executed here. The meter keeps the
parsing of untrusted archives, and the cryptography library, out of its own process: the
daemon's resident memory stays smaller, and a malformed archive can at worst end this child.
"""

import argparse
import hashlib
import io
import json
import stat
import sys
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from gridedge import packages
from gridedge.errors import GridedgeError, VerificationError
from gridedge.meter import durable

REFUSED = 3
"""Exit status of a refused package."""


def unpack(
    archive: bytes,
    into: Path,
    *,
    name: str,
    sha256: str,
    trusted_keys: Iterable[str],
    above: Iterable[str],
    max_bytes: int,
) -> dict[str, Any]:
    """Verify `archive` and unpack it into `into` (which must not exist yet).

    Returns
    -------
    dict
        The manifest, as written to ``into/manifest.json``.

    Raises
    ------
    VerificationError
        Any check failed; nothing was written then.
    """
    digest = hashlib.sha256(archive).hexdigest()
    if digest != sha256:
        raise VerificationError(
            f"package {name}: sha256 {digest} is not the {sha256} the settings name"
        )
    keys = [packages.load_public_key(k) for k in trusted_keys]
    verified = packages.verify(archive, keys, max_payload_bytes=max_bytes)
    manifest = verified.manifest
    if manifest.name != name:
        raise VerificationError(f"package {name}: the manifest names {manifest.name!r}")
    for floor in above:
        if packages.parse_version(manifest.version) <= packages.parse_version(floor):
            raise VerificationError(
                f"package {name} {manifest.version}: the version does not go up from {floor}"
            )
    files = _payload_files(verified.payload, max_bytes)
    payload_dir = into / "payload"
    payload_dir.mkdir(parents=True)
    for relative, content in files.items():
        target = payload_dir.joinpath(*relative.parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    document = json.loads(manifest.to_json())
    (into / "manifest.json").write_text(json.dumps(document, sort_keys=True))
    (into / "package.sha256").write_text(digest)
    durable.fsync_tree(into)
    return document


def _payload_files(payload: bytes, max_bytes: int) -> dict[PurePosixPath, bytes]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(payload))
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise VerificationError(f"the payload is not a ZIP archive: {exc}") from None
    files: dict[PurePosixPath, bytes] = {}
    total = 0
    with archive:
        for info in archive.infolist():
            if info.is_dir():
                continue
            path = PurePosixPath(info.filename)
            if path.is_absolute() or ".." in path.parts or "\\" in info.filename or not path.parts:
                raise VerificationError(f"payload member {info.filename!r} escapes the package")
            if stat.S_ISLNK(info.external_attr >> 16):
                raise VerificationError(f"payload member {info.filename!r} is a symbolic link")
            if path in files:
                raise VerificationError(f"payload member {info.filename!r} appears twice")
            total += info.file_size
            if total > max_bytes:
                raise VerificationError(f"the payload unpacks to more than {max_bytes} bytes")
            try:
                files[path] = archive.read(info)
            except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
                raise VerificationError(f"payload member {info.filename!r}: {exc}") from None
    return files


def main(argv: Sequence[str] | None = None) -> int:
    """Run as a child of the meter; see the module documentation."""
    parser = argparse.ArgumentParser(prog="python -m gridedge.meter.unpack")
    parser.add_argument("--into", type=Path, required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--sha256", required=True)
    parser.add_argument("--key", action="append", default=[], dest="keys")
    parser.add_argument("--above", action="append", default=[])
    parser.add_argument("--max-bytes", type=int, required=True)
    args = parser.parse_args(argv)
    archive = sys.stdin.buffer.read(args.max_bytes + 1)
    try:
        if len(archive) > args.max_bytes:
            raise VerificationError(f"package {args.name} is larger than {args.max_bytes} bytes")
        manifest = unpack(
            archive,
            args.into,
            name=args.name,
            sha256=args.sha256,
            trusted_keys=args.keys,
            above=args.above,
            max_bytes=args.max_bytes,
        )
    except GridedgeError as exc:
        print(exc, file=sys.stderr)
        return REFUSED
    print(json.dumps(manifest))
    return 0


if __name__ == "__main__":
    sys.exit(main())
