"""The last settings the catalog gave, kept on disk for a boot without the catalog."""

import json
import logging
from pathlib import Path
from typing import Any

from gridedge.meter import durable

logger = logging.getLogger(__name__)

FILE = "settings.json"


def save(state_dir: Path, document: dict[str, Any]) -> None:
    """Keep `document` as the last-known-good settings (atomically, durably)."""
    durable.write_file(state_dir / FILE, json.dumps(document, sort_keys=True).encode(), 0o600)


def load(state_dir: Path) -> dict[str, Any] | None:
    """Return the last-known-good settings document, or None if there is none readable."""
    path = state_dir / FILE
    try:
        document = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        logger.error("last-known-good settings %s unreadable: %s", path, exc)
        return None
    return document if isinstance(document, dict) else None
