"""The client side of the catalog's REST interface: settings polls, package downloads, topology.

A poll sends the ETag of the settings the meter runs (``If-None-Match``); the catalog answers
304 when they are current, and records the poll either way (that is how it knows the meter is
online). Packages are downloaded with a size limit enforced while reading, so an oversized
one is refused before it is held in memory. Services (``role="services"``) use the same client
for their own settings and to read and write the topology (``If-Match``).
"""

import http.client
import json
import logging
import ssl
import urllib.parse
from pathlib import Path
from typing import Any

from gridedge.errors import (
    AccessDeniedError,
    AuthenticationError,
    CatalogUnavailableError,
    ConfigurationError,
    InvalidInputError,
    NotFoundError,
    PreconditionFailedError,
    VerificationError,
)

logger = logging.getLogger(__name__)


MAX_SETTINGS_BYTES = 4 * 1024 * 1024
MAX_TOPOLOGY_BYTES = 64 * 1024 * 1024
ROLES = ("devices", "services")


class CatalogClient:
    """Talk to the Device Catalog as one device or service.

    Parameters
    ----------
    base_url : str
        ``http://host:port`` or ``https://host:port`` (a path prefix is allowed).
    device_id : str
        This meter (or service).
    token : str
        Its bearer token.
    timeout_s : float
        Timeout of one request.
    ca_file : Path, optional
        Certificate authorities for https; the system's by default.
    role : {"devices", "services"}
        Which collection of the catalog `device_id` is registered in.
    """

    def __init__(
        self,
        base_url: str,
        device_id: str,
        token: str,
        *,
        timeout_s: float = 10.0,
        ca_file: Path | None = None,
        role: str = "devices",
    ) -> None:
        if role not in ROLES:
            raise ConfigurationError(f"catalog role {role!r} is not one of {ROLES}")
        url = urllib.parse.urlsplit(base_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ConfigurationError(f"catalog URL {base_url!r} is not http(s)://host[:port]")
        self.base_url = base_url
        self.device_id = device_id
        self.role = role
        self._token = token
        self._scheme = url.scheme
        self._host = url.hostname
        self._port = url.port
        self._prefix = url.path.rstrip("/")
        self._timeout_s = timeout_s
        self._context = (
            ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
            if url.scheme == "https"
            else None
        )

    def settings(self, etag: str | None = None) -> tuple[dict[str, Any] | None, str | None]:
        """Poll the settings.

        Parameters
        ----------
        etag : str, optional
            ETag of the settings in use.

        Returns
        -------
        (document, etag)
            The settings document and its ETag; ``(None, etag)`` when unchanged (304).

        Raises
        ------
        CatalogUnavailableError
            No answer, or a server error.
        AuthenticationError, AccessDeniedError, NotFoundError
            The catalog refuses this meter's credentials or does not know it.
        """
        headers = {"Accept": "application/json"}
        if etag:
            headers["If-None-Match"] = etag
        status, response_headers, body = self._request(
            "GET", f"/v1/{self.role}/{self.device_id}/settings", headers, limit=MAX_SETTINGS_BYTES
        )
        new_etag = response_headers.get("etag")
        if status == 304:
            return None, new_etag or etag
        return _json(body, "settings"), new_etag

    def topology(self) -> tuple[int, dict[str, Any]]:
        """Read the current topology (services and the administrator only).

        Returns
        -------
        (version, document)
            The version (from the ETag ``"t{version}"``) and the grid in the JSON format.

        Raises
        ------
        NotFoundError
            No topology stored yet.
        CatalogUnavailableError, AuthenticationError, AccessDeniedError
            As for :meth:`settings`.
        """
        _, headers, body = self._request(
            "GET", "/v1/topology", {"Accept": "application/json"}, limit=MAX_TOPOLOGY_BYTES
        )
        return _topology_version(headers.get("etag", "")), _json(body, "topology")

    def put_topology(self, document: dict[str, Any], version: int) -> tuple[int, list[str]]:
        """Store a new topology version based on `version` (``If-Match``).

        Returns
        -------
        (version, affected)
            The new version and the meters whose settings changed with it.

        Raises
        ------
        PreconditionFailedError
            `version` is no longer the current one: read it again and redo the change.
        CatalogUnavailableError, AuthenticationError, AccessDeniedError
            As for :meth:`settings`.
        """
        headers = {
            "Accept": "application/json",
            "Content-Type": "application/json",
            "If-Match": f'"t{version}"',
        }
        body = json.dumps(document, separators=(",", ":")).encode()
        _, _, answer = self._request(
            "PUT", "/v1/topology", headers, body=body, limit=MAX_SETTINGS_BYTES
        )
        result = _json(answer, "topology answer")
        return int(result["version"]), list(result["affected"])

    def download(self, path: str, max_bytes: int) -> bytes:
        """Download a package archive from `path` (as the settings give it).

        Raises
        ------
        VerificationError
            The package is larger than `max_bytes`.
        CatalogUnavailableError, AuthenticationError, AccessDeniedError, NotFoundError
            As for :meth:`settings`.
        """
        if not path.startswith("/"):
            raise VerificationError(f"package URL {path!r} is not a path on the catalog")
        _, _, body = self._request(
            "GET", path, {"Accept": "application/octet-stream"}, limit=max_bytes
        )
        return body

    def _request(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        *,
        limit: int,
        body: bytes | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        headers = {**headers, "Authorization": f"Bearer {self._token}"}
        if self._scheme == "https":
            connection: http.client.HTTPConnection = http.client.HTTPSConnection(
                self._host, self._port, timeout=self._timeout_s, context=self._context
            )
        else:
            connection = http.client.HTTPConnection(self._host, self._port, timeout=self._timeout_s)
        try:
            connection.request(method, self._prefix + path, body=body, headers=headers)
            response = connection.getresponse()
            declared = response.getheader("Content-Length")
            if declared is not None and declared.isdigit() and int(declared) > limit:
                raise VerificationError(
                    f"{path}: {declared} bytes is more than the limit of {limit} bytes"
                )
            content = response.read(limit + 1)
            if len(content) > limit:
                raise VerificationError(f"{path}: more than the limit of {limit} bytes")
            status = response.status
            response_headers = {k.lower(): v for k, v in response.getheaders()}
        except (OSError, http.client.HTTPException) as exc:
            raise CatalogUnavailableError(f"catalog {self.base_url} unreachable: {exc}") from None
        finally:
            connection.close()
        _raise_for(status, method, path, content)
        return status, response_headers, content


def _json(body: bytes, what: str) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise CatalogUnavailableError(f"the catalog sent {what} that is not JSON: {exc}") from None


def _topology_version(etag: str) -> int:
    text = etag.strip().removeprefix("W/").strip('"')
    if not (text.startswith("t") and text[1:].isdigit()):
        raise CatalogUnavailableError(f"the catalog sent the topology with ETag {etag!r}")
    return int(text[1:])


def _raise_for(status: int, method: str, path: str, body: bytes) -> None:
    if status < 400 or status == 304:
        return
    try:
        description = json.loads(body).get("description", "")
    except (ValueError, AttributeError, UnicodeDecodeError):
        description = body[:200].decode(errors="replace")
    message = f"catalog answered {status} to {method} {path}: {description}"
    if status == 401:
        raise AuthenticationError(message)
    if status == 403:
        raise AccessDeniedError(message)
    if status == 404:
        raise NotFoundError(message)
    if status == 412:
        raise PreconditionFailedError(message)
    if status in (400, 413, 415, 422):
        raise InvalidInputError(message)
    raise CatalogUnavailableError(message)
