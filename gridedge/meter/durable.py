"""Changes to files that survive a power loss at any instant: all of them or none.

A POSIX ``rename`` within one file system is atomic; it is durable once the directory holding
the name is fsynced. So every change here writes a new file (or symlink, or directory) under a
temporary name, fsyncs its content, renames it over the old name, and fsyncs the directory.
After a crash a reader finds the old or the new version, never a mix; leftovers of an
interrupted change carry the :data:`TEMPORARY` mark and are removed by :func:`remove_leftovers`.
"""

import contextlib
import os
import secrets
import shutil
from pathlib import Path

TEMPORARY = ".tmp-"
"""Part of the name of every file or directory not yet renamed into place."""


def temporary_name(path: Path) -> Path:
    """Return a fresh name beside `path` that :func:`remove_leftovers` recognises."""
    return path.with_name(f"{path.name}{TEMPORARY}{secrets.token_hex(4)}")


def fsync_directory(directory: Path) -> None:
    """Make the names in `directory` (created, renamed, removed) durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_file(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Replace the content of `path` with `data` atomically and durably."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = temporary_name(path)
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        raise
    fsync_directory(path.parent)


def point(link: Path, target: str) -> None:
    """Make the symlink `link` point at `target` (relative to its directory) atomically."""
    temporary = temporary_name(link)
    os.symlink(target, temporary)
    try:
        os.replace(temporary, link)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        raise
    fsync_directory(link.parent)


def unlink(path: Path) -> None:
    """Remove a file or symlink, if present, durably."""
    try:
        path.unlink()
    except FileNotFoundError:
        return
    fsync_directory(path.parent)


def fsync_tree(root: Path) -> None:
    """Fsync every file and directory under `root`, and `root` itself."""
    for directory, _, files in os.walk(root):
        for name in files:
            fd = os.open(Path(directory) / name, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fsync_directory(Path(directory))


def remove_tree(path: Path) -> None:
    """Delete a directory atomically: rename it to a temporary name first, then remove it.

    A power loss in between leaves a leftover, never a half-deleted directory under the
    real name.
    """
    if not path.exists():
        return
    doomed = temporary_name(path)
    os.replace(path, doomed)
    fsync_directory(path.parent)
    shutil.rmtree(doomed, ignore_errors=True)


def remove_leftovers(directory: Path) -> list[Path]:
    """Remove what interrupted changes left in `directory`; return what was removed."""
    removed = []
    if not directory.is_dir():
        return removed
    for path in directory.iterdir():
        if TEMPORARY not in path.name:
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path)
    if removed:
        fsync_directory(directory)
    return removed
