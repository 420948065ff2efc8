"""``gridedge catalog seed``: register a test case's grid, devices, services and brokers."""

import logging
from typing import TextIO

from gridedge.catalog.config import CatalogConfig, split_host_port
from gridedge.catalog.documents import BrokerEndpoint, Registration
from gridedge.catalog.publisher import GRID, MONITORING, MqttPublisher
from gridedge.catalog.service import Catalog, topology_etag
from gridedge.catalog.store import open_store
from gridedge.grid import Grid, cases, to_dict

logger = logging.getLogger(__name__)

CASES = {"turin": cases.turin}
SERVICES = {"reconfiguration": "reconfiguration", "simulator": "simulator"}
DEFAULT_BROKERS = {GRID: "127.0.0.1:1883", MONITORING: "127.0.0.1:1884"}


def seed(config: CatalogConfig, case: str, *, stream: TextIO) -> dict[str, str]:
    """Register the grid of `case` and everything in it; print and return the issued tokens.

    Registers the two brokers (from the configuration, else the defaults on loopback), the
    topology (a new version if one exists), every meter, every remotely controlled switch
    and the remote services. Principals already registered keep their token.

    Returns
    -------
    dict of str to str
        Id -> token of each principal registered by this call.
    """
    grid = CASES[case]()
    store = open_store(config.database, busy_timeout_ms=config.busy_timeout_ms)
    publisher = MqttPublisher.from_config(config, sender="catalog-seed", timeout=5.0)
    try:
        catalog = Catalog(config, store, publisher)
        for name, endpoint in (
            (GRID, config.grid_broker or DEFAULT_BROKERS[GRID]),
            (MONITORING, config.monitoring_broker or DEFAULT_BROKERS[MONITORING]),
        ):
            host, port = split_host_port(endpoint, f"broker {name}")
            catalog.put_broker(name, BrokerEndpoint(host, port, tls=False))
        version = _store_topology(catalog, grid)
        print(f"topology {grid.name}: version {version}", file=stream)
        issued = {}
        for role, principal_id, registration in _principals(grid):
            outcome = catalog.register(role, principal_id, registration)
            if outcome.token is None:
                print(f"{role:8} {principal_id:16} already registered", file=stream)
            else:
                issued[principal_id] = outcome.token
                print(f"{role:8} {principal_id:16} {outcome.token}", file=stream)
        return issued
    finally:
        publisher.close()
        store.close()


def _store_topology(catalog: Catalog, grid: Grid) -> int:
    current = catalog.store.reader().topology()
    if current is None:
        version, _ = catalog.put_topology(to_dict(grid), if_match=None, if_none_match="*")
    else:
        version, _ = catalog.put_topology(
            to_dict(grid), if_match=topology_etag(current[0]), if_none_match=None
        )
    return version


def _principals(grid: Grid) -> list[tuple[str, str, Registration]]:
    def registration(kind: str, **parameters: str | None) -> Registration:
        return Registration(kind, None, None, (), {k: v for k, v in parameters.items() if v})

    principals = [
        ("device", m.id, registration("meter", bus=m.bus, branch=m.branch, name=m.name))
        for m in grid.meters
    ]
    principals += [
        ("device", s.id, registration("switch", bus=s.bus, branch=s.branch, to_bus=s.to_bus))
        for s in grid.switches
        if s.remote
    ]
    principals += [("service", i, registration(kind)) for i, kind in SERVICES.items()]
    return principals
