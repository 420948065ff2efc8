"""The meter's side of the catalog's REST interface: settings polls and package downloads.

A poll sends the ETag of the settings the meter runs (``If-None-Match``); the catalog answers
304 when they are current, and records the poll either way (that is how it knows the meter is
online). Packages are downloaded with a size limit enforced while reading, so an oversized
one is refused before it is held in memory.
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
    NotFoundError,
    VerificationError,
)

logger = logging.getLogger(__name__)


class CatalogClient:
    """Talk to the Device Catalog as one device.

    Parameters
    ----------
    base_url : str
        ``http://host:port`` or ``https://host:port`` (a path prefix is allowed).
    device_id : str
        This meter.
    token : str
        Its bearer token.
    timeout_s : float
        Timeout of one request.
    ca_file : Path, optional
        Certificate authorities for https; the system's by default.
    """

    def __init__(
        self,
        base_url: str,
        device_id: str,
        token: str,
        *,
        timeout_s: float = 10.0,
        ca_file: Path | None = None,
    ) -> None:
        url = urllib.parse.urlsplit(base_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ConfigurationError(f"catalog URL {base_url!r} is not http(s)://host[:port]")
        self.base_url = base_url
        self.device_id = device_id
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
            f"/v1/devices/{self.device_id}/settings", headers, limit=4 * 1024 * 1024
        )
        new_etag = response_headers.get("etag")
        if status == 304:
            return None, new_etag or etag
        try:
            document = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise CatalogUnavailableError(
                f"the catalog sent settings that are not JSON: {exc}"
            ) from None
        return document, new_etag

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
        _, _, body = self._request(path, {"Accept": "application/octet-stream"}, limit=max_bytes)
        return body

    def _request(
        self, path: str, headers: dict[str, str], *, limit: int
    ) -> tuple[int, dict[str, str], bytes]:
        headers = {**headers, "Authorization": f"Bearer {self._token}"}
        if self._scheme == "https":
            connection: http.client.HTTPConnection = http.client.HTTPSConnection(
                self._host, self._port, timeout=self._timeout_s, context=self._context
            )
        else:
            connection = http.client.HTTPConnection(self._host, self._port, timeout=self._timeout_s)
        try:
            connection.request("GET", self._prefix + path, headers=headers)
            response = connection.getresponse()
            declared = response.getheader("Content-Length")
            if declared is not None and declared.isdigit() and int(declared) > limit:
                raise VerificationError(
                    f"{path}: {declared} bytes is more than the limit of {limit} bytes"
                )
            body = response.read(limit + 1)
            if len(body) > limit:
                raise VerificationError(f"{path}: more than the limit of {limit} bytes")
            status = response.status
            response_headers = {k.lower(): v for k, v in response.getheaders()}
        except (OSError, http.client.HTTPException) as exc:
            raise CatalogUnavailableError(f"catalog {self.base_url} unreachable: {exc}") from None
        finally:
            connection.close()
        _raise_for(status, path, body)
        return status, response_headers, body


def _raise_for(status: int, path: str, body: bytes) -> None:
    if status < 400 or status == 304:
        return
    try:
        description = json.loads(body).get("description", "")
    except (ValueError, AttributeError, UnicodeDecodeError):
        description = body[:200].decode(errors="replace")
    message = f"catalog answered {status} to GET {path}: {description}"
    if status == 401:
        raise AuthenticationError(message)
    if status == 403:
        raise AccessDeniedError(message)
    if status == 404:
        raise NotFoundError(message)
    raise CatalogUnavailableError(message)
