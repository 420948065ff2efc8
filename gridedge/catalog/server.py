"""``gridedge catalog serve``: the catalog under gunicorn, several worker processes."""

import logging

import falcon
from gunicorn.app.base import BaseApplication

from gridedge.catalog.config import CatalogConfig
from gridedge.catalog.runtime import worker_app
from gridedge.catalog.store import open_store
from gridedge.errors import ConfigurationError

logger = logging.getLogger(__name__)


class _Gunicorn(BaseApplication):
    """gunicorn driven from a :class:`CatalogConfig` instead of its own command line."""

    def __init__(self, config: CatalogConfig) -> None:
        self.catalog_config = config
        super().__init__()

    def load_config(self) -> None:
        config = self.catalog_config
        options = {
            "bind": config.bind,
            "workers": config.workers,
            "threads": config.threads,
            # The threaded worker keeps connections alive; the sync one closes each.
            "worker_class": "gthread" if config.threads > 1 else "sync",
            "keepalive": 5,
            "timeout": 30,
            "graceful_timeout": 10,
            "proc_name": "gridedge-catalog",
        }
        if config.certfile:
            options["certfile"] = config.certfile
            options["keyfile"] = config.keyfile
        for key, value in options.items():
            self.cfg.set(key, value)

    def load(self) -> falcon.App:
        return worker_app(self.catalog_config)


def serve(config: CatalogConfig) -> None:
    """Create the store's tables, then run gunicorn until it is stopped (SIGTERM or SIGINT).

    Raises
    ------
    ConfigurationError
        No administrator token configured.
    """
    if not config.admin_token_sha256:
        raise ConfigurationError(
            "catalog.admin_token_sha256 is not set; make a token with `gridedge catalog token`"
        )
    # Once in the master, so that workers starting together find the tables in place.
    open_store(config.database, busy_timeout_ms=config.busy_timeout_ms).close()
    logger.info("serving the catalog on %s with %d workers", config.bind, config.workers)
    _Gunicorn(config).run()
