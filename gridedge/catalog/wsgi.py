"""WSGI entry for running the catalog under any gunicorn command line.

``gunicorn 'gridedge.catalog.wsgi:application'`` reads the settings from the file named by
``GRIDEDGE_CATALOG_CONFIG`` (if set) and ``GRIDEDGE_CATALOG_*`` variables. ``gridedge catalog
serve`` is the usual way; it builds the same application in each worker.
"""

import os

from gridedge import config
from gridedge.catalog.config import SECTION, CatalogConfig
from gridedge.catalog.runtime import worker_app

application = worker_app(
    config.load(CatalogConfig, os.environ.get("GRIDEDGE_CATALOG_CONFIG"), section=SECTION)
)
