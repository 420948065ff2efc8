"""Installed algorithm versions on the meter's disk, switched atomically.

Layout under ``{state_dir}/algorithms/{name}/``::

    versions/{version}/manifest.json   the verified manifest
    versions/{version}/package.sha256  the sha256 of the package archive
    versions/{version}/payload/...     the algorithm's files
    current  -> versions/{version}     the active version (a symlink)
    previous -> versions/{version}     the version before it, while the new one is on probation
    highest                            the highest version ever activated (text)
    rejected                           versions refused after they failed (text, one a line)

Every change goes through :mod:`gridedge.meter.durable`: a version is unpacked under a
temporary name and renamed into place; ``current`` is switched by renaming a new symlink over
it. Whatever instant the power fails, ``current`` names exactly the old or the new version,
complete on disk; :meth:`Installer.recover` removes what an interrupted change left behind.
"""

import contextlib
import dataclasses
import json
import logging
import os
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gridedge.errors import VerificationError
from gridedge.meter import durable

logger = logging.getLogger(__name__)

CURRENT = "current"
PREVIOUS = "previous"
HIGHEST = "highest"
REJECTED = "rejected"
VERSIONS = "versions"
_VERSION = re.compile(r"[0-9]+(\.[0-9]+){0,3}")


@dataclasses.dataclass(frozen=True)
class Installed:
    """A version on disk.

    Attributes
    ----------
    name, version : str
        The package.
    path : Path
        Its directory (``versions/{version}``).
    manifest : dict
        Its verified manifest.
    sha256 : str
        Hex sha256 of the package archive.
    """

    name: str
    version: str
    path: Path
    manifest: dict[str, Any]
    sha256: str

    @property
    def payload(self) -> Path:
        """Directory of the algorithm's files."""
        return self.path / "payload"

    @property
    def entry_point(self) -> str:
        """``module:function`` of the payload."""
        return str(self.manifest["entry_point"])


class Installer:
    """The algorithm versions of one meter.

    Parameters
    ----------
    root : Path
        ``{state_dir}/algorithms``.
    trusted_keys : sequence of str
        Ed25519 public keys (hex) packages must be signed with.
    max_bytes : int
        Largest package, and largest unpacked payload.
    """

    def __init__(self, root: Path, trusted_keys: Sequence[str], max_bytes: int) -> None:
        self.root = root
        self.trusted_keys = tuple(trusted_keys)
        self.max_bytes = max_bytes
        root.mkdir(parents=True, exist_ok=True)

    # -- reading -----------------------------------------------------------------------------

    def names(self) -> list[str]:
        """Names with an active version."""
        return sorted(p.name for p in self.root.iterdir() if (p / CURRENT).is_symlink())

    def current(self, name: str) -> Installed | None:
        """The active version of `name`, or None."""
        return self._resolve(name, CURRENT)

    def previous(self, name: str) -> Installed | None:
        """The version kept while the active one is on probation, or None."""
        return self._resolve(name, PREVIOUS)

    def floors(self, name: str) -> list[str]:
        """Versions a new one of `name` must be above: the active one, the highest ever active."""
        candidates = []
        with contextlib.suppress(FileNotFoundError):
            candidates.append((self.root / name / HIGHEST).read_text().strip())
        current = self._target(name, CURRENT)
        if current is not None:
            candidates.append(current)
        return sorted({c for c in candidates if _VERSION.fullmatch(c)})

    def rejected(self, name: str) -> set[str]:
        """``{version}:{sha256}`` of the packages of `name` refused after they failed."""
        try:
            text = (self.root / name / REJECTED).read_text()
        except FileNotFoundError:
            return set()
        return {line.strip() for line in text.splitlines() if line.strip()}

    # -- changing ----------------------------------------------------------------------------

    def recover(self) -> None:
        """Finish or undo what an interrupted change left (run before anything is loaded).

        Removes temporary files and directories, a ``previous`` equal to ``current``, and
        version directories that neither symlink names.
        """
        for directory in sorted(p for p in self.root.iterdir() if p.is_dir()):
            for leftover in durable.remove_leftovers(directory):
                logger.info("removed %s, left by an interrupted change", leftover)
            versions = directory / VERSIONS
            for leftover in durable.remove_leftovers(versions):
                logger.info("removed %s, left by an interrupted change", leftover)
            current = self._target(directory.name, CURRENT)
            previous = self._target(directory.name, PREVIOUS)
            if previous is not None and previous == current:
                durable.unlink(directory / PREVIOUS)
                previous = None
            if versions.is_dir():
                for version in versions.iterdir():
                    if version.name not in (current, previous):
                        logger.info("removed %s: not active", version)
                        durable.remove_tree(version)

    def stage(self, name: str, sha256: str, archive: bytes) -> Installed:
        """Verify a package in a child process and unpack it beside the active version.

        Raises
        ------
        VerificationError
            Refused: the reason is in the message. Nothing of it stays on disk.
        """
        versions = self.root / name / VERSIONS
        versions.mkdir(parents=True, exist_ok=True)
        staging = durable.temporary_name(versions / "incoming")
        command = [
            sys.executable,
            "-m",
            "gridedge.meter.unpack",
            "--into",
            str(staging),
            "--name",
            name,
            "--sha256",
            sha256,
            "--max-bytes",
            str(self.max_bytes),
        ]
        for floor in self.floors(name):
            command += ["--above", floor]
        for key in self.trusted_keys:
            command += ["--key", key]
        try:
            result = subprocess.run(
                command, input=archive, capture_output=True, timeout=60, check=False
            )
        except subprocess.TimeoutExpired:
            durable.remove_tree(staging)
            raise VerificationError(f"package {name}: verification took more than 60 s") from None
        if result.returncode != 0:
            durable.remove_tree(staging)
            reason = result.stderr.decode(errors="replace").strip().splitlines()
            raise VerificationError(reason[-1] if reason else f"package {name}: refused")
        manifest = json.loads(result.stdout)
        version = manifest["version"]
        target = versions / version
        if target.exists():
            # Only a version that is neither current nor previous can be here (a left copy).
            durable.remove_tree(target)
        os.replace(staging, target)
        durable.fsync_directory(versions)
        return Installed(name, version, target, manifest, sha256)

    def activate(self, installed: Installed) -> None:
        """Make a staged version the active one, keeping the active one as ``previous``."""
        directory = self.root / installed.name
        current = self._target(installed.name, CURRENT)
        superseded = self._target(installed.name, PREVIOUS)
        if current is not None and current != installed.version:
            durable.point(directory / PREVIOUS, f"{VERSIONS}/{current}")
        durable.point(directory / CURRENT, f"{VERSIONS}/{installed.version}")
        durable.write_file(directory / HIGHEST, installed.version.encode())
        if superseded not in (None, current, installed.version):
            # The active version was itself on probation: its predecessor goes.
            durable.remove_tree(directory / VERSIONS / superseded)
        logger.info("%s %s is active (previous: %s)", installed.name, installed.version, current)

    def commit(self, name: str) -> None:
        """The active version passed its probation: delete the previous one."""
        previous = self._target(name, PREVIOUS)
        if previous is None:
            return
        durable.unlink(self.root / name / PREVIOUS)
        if previous != self._target(name, CURRENT):
            durable.remove_tree(self.root / name / VERSIONS / previous)

    def rollback(self, name: str) -> Installed | None:
        """The active version failed: make the previous one active again and refuse this one.

        Returns
        -------
        Installed or None
            The version active now; None if there was no previous one (`name` is then
            inactive).
        """
        directory = self.root / name
        failed = self.current(name)
        previous = self._target(name, PREVIOUS)
        if failed is not None:
            self._reject(failed)
        if previous is None:
            durable.unlink(directory / CURRENT)
        else:
            durable.point(directory / CURRENT, f"{VERSIONS}/{previous}")
            durable.unlink(directory / PREVIOUS)
        if failed is not None and failed.version != previous:
            durable.remove_tree(failed.path)
        return self.current(name)

    def discard(self, installed: Installed) -> None:
        """A staged version that never became active failed to load: delete and refuse it."""
        self._reject(installed)
        if self._target(installed.name, CURRENT) != installed.version:
            durable.remove_tree(installed.path)

    def remove(self, name: str) -> None:
        """Deactivate `name` and delete its versions (the record of the highest one stays)."""
        directory = self.root / name
        durable.unlink(directory / CURRENT)
        durable.unlink(directory / PREVIOUS)
        durable.remove_tree(directory / VERSIONS)

    # -- helpers -----------------------------------------------------------------------------

    def _reject(self, installed: Installed) -> None:
        entries = self.rejected(installed.name) | {f"{installed.version}:{installed.sha256}"}
        durable.write_file(
            self.root / installed.name / REJECTED, "\n".join(sorted(entries)).encode()
        )

    def _target(self, name: str, link: str) -> str | None:
        try:
            target = os.readlink(self.root / name / link)
        except (FileNotFoundError, OSError):
            return None
        head, _, version = target.partition("/")
        if head != VERSIONS or not _VERSION.fullmatch(version):
            return None
        return version

    def _resolve(self, name: str, link: str) -> Installed | None:
        version = self._target(name, link)
        if version is None:
            return None
        path = self.root / name / VERSIONS / version
        try:
            manifest = json.loads((path / "manifest.json").read_text())
            sha256 = (path / "package.sha256").read_text().strip()
        except (OSError, ValueError):
            logger.error("%s of %s names %s, which is not a complete version", link, name, path)
            return None
        return Installed(name, version, path, manifest, sha256)
