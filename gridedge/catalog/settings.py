"""The settings document a device or service receives (self-configuration and auto-update)."""

import json
from collections.abc import Mapping
from typing import Any

from gridedge.catalog.store import PackageRecord
from gridedge.mqtt import Topics


def render(
    principal_id: str,
    spec: Mapping[str, Any],
    *,
    revision: int,
    brokers: Mapping[str, Mapping[str, Any]],
    packages: Mapping[tuple[str, str], PackageRecord],
    topics: Topics,
    topology: Mapping[str, Any] | None,
    default_update_interval_s: float,
    default_timeout_s: float,
) -> str:
    """Build the settings of one principal as the JSON text served and pushed to it.

    Parameters
    ----------
    principal_id : str
        The device or service.
    spec : mapping
        Its registration document (see :class:`gridedge.catalog.documents.Registration`).
    revision : int
        The revision these settings get.
    brokers : mapping
        Broker endpoints by name.
    packages : mapping
        The packages its algorithms name, by (name, version).
    topics : Topics
        The topic tree.
    topology : mapping or None
        Its portion of the grid topology, if it has one.
    default_update_interval_s, default_timeout_s : float
        Used where the registration gives none.

    Returns
    -------
    str
        Compact JSON (see the OpenAPI schema ``Settings``).
    """
    algorithms = []
    for assignment in spec.get("algorithms", []):
        record = packages[(assignment["name"], assignment["version"])]
        algorithms.append(
            {
                "name": record.name,
                "version": record.version,
                "sha256": record.sha256,
                "api_version": record.manifest["api_version"],
                "entry_point": record.manifest["entry_point"],
                "url": f"/v1/algorithms/{record.name}/{record.version}",
                "parameters": assignment.get("parameters", {}),
            }
        )
    topic_names = {
        "prefix": topics.prefix,
        "status": topics.status(principal_id),
        "measurements": topics.measurements(principal_id),
        "config": topics.config(principal_id),
        "presence": topics.presence(principal_id),
        "topology": topics.topology(),
    }
    if spec["kind"] == "switch":
        topic_names["command"] = topics.switch_command(principal_id)
        topic_names["state"] = topics.switch_state(principal_id)
    document = {
        "id": principal_id,
        "kind": spec["kind"],
        "revision": revision,
        "update_interval_s": spec.get("update_interval_s", default_update_interval_s),
        "timeout_s": spec.get("timeout_s", default_timeout_s),
        "brokers": {name: dict(endpoint) for name, endpoint in brokers.items()},
        "topics": topic_names,
        "algorithms": algorithms,
        "topology": None if topology is None else dict(topology),
        "parameters": spec.get("parameters", {}),
    }
    return json.dumps(document, separators=(",", ":"), sort_keys=True)
