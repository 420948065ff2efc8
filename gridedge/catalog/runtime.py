"""A catalog worker process: store, MQTT sessions, background threads and the WSGI app."""

import logging
import os
import socket

from gridedge.catalog.app import CatalogApp, create_app
from gridedge.catalog.config import CatalogConfig
from gridedge.catalog.presence import PresenceWorker
from gridedge.catalog.publisher import MONITORING, MqttPublisher
from gridedge.catalog.store import open_store

logger = logging.getLogger(__name__)


def worker_app(config: CatalogConfig) -> CatalogApp:
    """Build everything one worker needs and return its application.

    Called once in each gunicorn worker after the fork, so that no connection or thread is
    shared between processes.
    """
    store = open_store(config.database, busy_timeout_ms=config.busy_timeout_ms)
    sender = f"catalog-{socket.gethostname()}-{os.getpid()}"
    # A broker down at start-up must not hold the worker: its session is retried meanwhile.
    publisher = MqttPublisher.from_config(config, sender, timeout=2.0)
    app = create_app(config, store=store, publisher=publisher)
    presence = PresenceWorker(
        app.catalog, publisher.connections.get(MONITORING), config.sweep_interval_s
    )
    presence.start()
    logger.info("catalog worker %d ready (store %s)", os.getpid(), store.url.split("@")[-1])
    return app
