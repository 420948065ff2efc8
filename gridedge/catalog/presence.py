"""Background work of a catalog worker: the presence sweeper and the last-will listener.

Every gunicorn worker runs both. Sweeps from several workers do not double-announce: the store
hands each disconnection to exactly one of them. Status messages reach one worker each through
an MQTT 5 shared subscription, and the store arbitrates again if a broker redelivers.
"""

import logging
import random
import threading

from gridedge.catalog.service import Catalog
from gridedge.mqtt import Connection

logger = logging.getLogger(__name__)

SHARE_GROUP = "gridedge-catalog"


class PresenceWorker:
    """Run the sweeper and, given a monitoring connection, the last-will listener.

    Parameters
    ----------
    catalog : Catalog
        What to sweep and where to record disconnections.
    monitoring : Connection or None
        Session with the monitoring broker; meters' status messages arrive there.
    interval_s : float
        Seconds between sweeps (each one is jittered by up to 10 % so workers spread out).
    """

    def __init__(self, catalog: Catalog, monitoring: Connection | None, interval_s: float) -> None:
        self.catalog = catalog
        self.monitoring = monitoring
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        """Start the threads (daemons: they never hold a worker's exit)."""
        self._threads.append(
            threading.Thread(target=self._sweep, name="presence-sweeper", daemon=True)
        )
        if self.monitoring is not None:
            status = f"$share/{SHARE_GROUP}/{self.catalog.topics.prefix}meters/+/status"
            self.monitoring.subscribe(status)
            self._threads.append(
                threading.Thread(
                    target=self.monitoring.serve,
                    args=(self._stop, self.catalog.on_status),
                    kwargs={"log": logger},
                    name="presence-listener",
                    daemon=True,
                )
            )
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the threads to stop and wait for them."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)

    def _sweep(self) -> None:
        while not self._stop.wait(self.interval_s * random.uniform(0.9, 1.1)):
            try:
                self.catalog.sweep()
            except Exception:
                # A failed sweep (store briefly unavailable) must not end the sweeper.
                logger.exception("presence sweep failed; trying again next interval")
