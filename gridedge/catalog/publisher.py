"""How the catalog talks MQTT: one session with each of the two brokers."""

import logging
from typing import Any, Protocol

from gridedge.catalog.config import CatalogConfig, split_host_port
from gridedge.errors import BrokerUnavailableError
from gridedge.mqtt import Connection

logger = logging.getLogger(__name__)

GRID = "grid"
MONITORING = "monitoring"


class Publisher(Protocol):
    """Something that sends an envelope to a topic of a named broker."""

    def publish(self, broker: str, topic: str, body: Any, *, retain: bool) -> None:
        """Send `body` on `topic` of `broker` (``grid`` or ``monitoring``) with QoS 1."""
        ...


class MqttPublisher:
    """The catalog's MQTT sessions: ``grid`` for settings and topology, ``monitoring`` for presence.

    Parameters
    ----------
    connections : dict of str to Connection
        Started connections by broker name.
    """

    def __init__(self, connections: dict[str, Connection]) -> None:
        self.connections = connections

    @classmethod
    def from_config(
        cls, config: CatalogConfig, sender: str, timeout: float = 10.0
    ) -> "MqttPublisher":
        """Connect to the brokers the configuration names (none if it names none).

        A broker that cannot be reached within `timeout` is logged and retried in the
        background; QoS 1 messages published meanwhile are sent once it answers.
        """
        connections = {}
        for name, endpoint in ((GRID, config.grid_broker), (MONITORING, config.monitoring_broker)):
            if not endpoint:
                continue
            host, port = split_host_port(endpoint, f"catalog.{name}_broker")
            connection = Connection(host, port, sender=sender)
            try:
                connection.start(timeout)
            except BrokerUnavailableError as exc:
                logger.warning("%s; retrying in the background", exc)
            connections[name] = connection
        return cls(connections)

    def publish(self, broker: str, topic: str, body: Any, *, retain: bool) -> None:
        """Send `body` on `topic` of `broker`; only logged if that broker is not configured."""
        connection = self.connections.get(broker)
        if connection is None:
            logger.debug("no %s broker configured; not publishing %s", broker, topic)
            return
        connection.publish(topic, body, qos=1, retain=retain)

    def close(self) -> None:
        """Disconnect from every broker."""
        for connection in self.connections.values():
            connection.close()
