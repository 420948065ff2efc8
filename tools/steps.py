"""Shared pieces of the aarch64 tools: paths, logged steps, commands that fail loudly."""

import logging
import os
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

logger = logging.getLogger("arm64")

REPO = Path(__file__).resolve().parents[1]
# Everything reusable between runs (git-ignored); delete it to start afresh.
CACHE = REPO / ".cache" / "arm64"
DIST = REPO / "dist"


class StepError(RuntimeError):
    """A step of the build or test failed; the message says which and why."""


@contextmanager
def step(name: str) -> Iterator[None]:
    """Log the start, the end and the duration of a step."""
    logger.info("%s ...", name)
    start = time.monotonic()
    yield
    logger.info("%s: done in %.1f s", name, time.monotonic() - start)


def run(
    argv: Sequence[str | os.PathLike[str]],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    capture: bool = False,
) -> str:
    """Run a command; raise StepError with its output's tail when it fails.

    Returns
    -------
    str
        Standard output when `capture`, else an empty string (output goes to the terminal).
    """
    logger.debug("$ %s", " ".join(map(str, argv)))
    result = subprocess.run(
        [str(a) for a in argv],
        env=None if env is None else dict(env),
        cwd=cwd,
        text=True,
        stdout=subprocess.PIPE if capture else None,
        stderr=subprocess.STDOUT if capture else None,
        check=False,
    )
    if result.returncode != 0:
        tail = "\n".join((result.stdout or "").splitlines()[-40:])
        raise StepError(f"{argv[0]} exited with status {result.returncode}\n{tail}".rstrip())
    return result.stdout or ""
