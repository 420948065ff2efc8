"""The catalog's Falcon application: routes, request bodies and the one error mapping."""

import json
import logging
import sqlite3
from typing import Any

import falcon

from gridedge.catalog import documents, openapi
from gridedge.catalog.auth import Caller
from gridedge.catalog.config import CatalogConfig
from gridedge.catalog.publisher import Publisher
from gridedge.catalog.service import Catalog, topology_etag
from gridedge.catalog.store import PackageRecord, Principal, Store
from gridedge.errors import (
    AccessDeniedError,
    AuthenticationError,
    ConflictError,
    GridedgeError,
    InvalidDocumentError,
    InvalidInputError,
    NotFoundError,
    PreconditionFailedError,
    VerificationError,
)

logger = logging.getLogger(__name__)

JSON = "application/json"
OCTETS = "application/octet-stream"

# Most specific first: the first class an error is an instance of decides its status.
_STATUS: tuple[tuple[type[GridedgeError], str], ...] = (
    (AuthenticationError, falcon.HTTP_401),
    (AccessDeniedError, falcon.HTTP_403),
    (NotFoundError, falcon.HTTP_404),
    (ConflictError, falcon.HTTP_409),
    (PreconditionFailedError, falcon.HTTP_412),
    (InvalidDocumentError, falcon.HTTP_422),
    (VerificationError, falcon.HTTP_422),
    (InvalidInputError, falcon.HTTP_400),
)


def _domain_error(
    req: falcon.Request, resp: falcon.Response, error: Exception, params: Any
) -> None:
    """Turn an error of gridedge.errors into an HTTP error; the only place that does."""
    for kind, status in _STATUS:
        if isinstance(error, kind):
            headers = {"WWW-Authenticate": "Bearer"} if kind is AuthenticationError else None
            raise falcon.HTTPError(
                status,
                title=falcon.code_to_http_status(status),
                description=str(error),
                headers=headers,
            )
    logger.exception("unexpected error on %s %s", req.method, req.path)
    raise falcon.HTTPInternalServerError()


def _store_unavailable(
    req: falcon.Request, resp: falcon.Response, error: Exception, params: Any
) -> None:
    logger.error("store error on %s %s: %s", req.method, req.path, error)
    raise falcon.HTTPServiceUnavailable(
        description="the catalog's store cannot be reached", retry_after=1
    )


class _Base:
    def __init__(self, catalog: Catalog, config: CatalogConfig) -> None:
        self.catalog = catalog
        self.config = config

    def caller(self, req: falcon.Request) -> Caller:
        return self.catalog.authenticator.authenticate(req.get_header("Authorization"))

    def admin(self, req: falcon.Request) -> Caller:
        caller = self.caller(req)
        if not caller.is_admin:
            raise AccessDeniedError("only the administrator may do this")
        return caller

    def json_body(self, req: falcon.Request) -> Any:
        if req.content_type is None or req.content_type.split(";")[0].strip().lower() != JSON:
            raise falcon.HTTPUnsupportedMediaType(description=f"the body must be {JSON}")
        return documents.parse_json(read_body(req, self.config.max_json_bytes))


def read_body(req: falcon.Request, limit: int) -> bytes:
    """Read a request body of at most `limit` bytes.

    Raises
    ------
    falcon.HTTPContentTooLarge
        Declared or actual size above `limit`.
    """
    if req.content_length is not None and req.content_length > limit:
        raise falcon.HTTPContentTooLarge(
            description=f"the body is {req.content_length} bytes; the limit is {limit}"
        )
    body = req.bounded_stream.read(limit + 1)
    if len(body) > limit:
        raise falcon.HTTPContentTooLarge(description=f"the body exceeds the limit of {limit} bytes")
    return body


def _principal_view(principal: Principal, token: str | None = None) -> dict[str, Any]:
    view = {
        "id": principal.id,
        "role": principal.role,
        "kind": principal.kind,
        "state": principal.state,
        "state_since": principal.state_since,
        "last_seen": principal.last_seen,
        "revision": principal.revision,
        "registration": principal.spec,
    }
    if token is not None:
        view["token"] = token
    return view


def _package_view(record: PackageRecord) -> dict[str, Any]:
    return {
        "sha256": record.sha256,
        "name": record.name,
        "version": record.version,
        "manifest": record.manifest,
        "uploaded": record.uploaded,
    }


def _matches(req: falcon.Request, etag: str) -> bool:
    """Whether If-None-Match names `etag` (weak comparison, as RFC 9110 asks for GET)."""
    header = req.get_header("If-None-Match")
    if not header:
        return False
    if header.strip() == "*":
        return True
    candidates = [c.strip().removeprefix("W/") for c in header.split(",")]
    return etag in candidates


class PrincipalCollection(_Base):
    """``/v1/devices`` and ``/v1/services``."""

    def __init__(self, catalog: Catalog, config: CatalogConfig, role: str) -> None:
        super().__init__(catalog, config)
        self.role = role

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """List the principals of this role, optionally by state and kind."""
        caller = self.caller(req)
        unknown = sorted(set(req.params) - {"state", "kind"})
        if unknown:
            raise InvalidInputError(f"unknown query parameters {unknown}; known: kind, state")
        state = req.get_param("state")
        kind = req.get_param("kind")
        if state is not None and state not in ("registered", "online", "disconnected"):
            raise InvalidInputError(f"state {state!r} is not registered, online or disconnected")
        if kind is not None and documents.KIND.fullmatch(kind) is None:
            raise InvalidInputError(f"kind {kind!r} does not match {documents.KIND_PATTERN}")
        items = self.catalog.principals(caller, self.role, state=state, kind=kind)
        resp.media = {"items": [_principal_view(p) for p in items]}


class PrincipalItem(_Base):
    """``/v1/devices/{id}`` and ``/v1/services/{id}``."""

    def __init__(self, catalog: Catalog, config: CatalogConfig, role: str) -> None:
        super().__init__(catalog, config)
        self.role = role

    def on_get(self, req: falcon.Request, resp: falcon.Response, id: str) -> None:
        """Return one principal's record."""
        caller = self.caller(req)
        documents.check_id(id, self.role)
        resp.media = _principal_view(self.catalog.principal(caller, self.role, id))

    def on_put(self, req: falcon.Request, resp: falcon.Response, id: str) -> None:
        """Register a principal or replace its registration."""
        self.admin(req)
        documents.check_id(id, self.role)
        registration = documents.registration(self.json_body(req))
        outcome = self.catalog.register(self.role, id, registration)
        resp.status = falcon.HTTP_201 if outcome.created else falcon.HTTP_200
        resp.media = _principal_view(outcome.principal, outcome.token)


class Settings(_Base):
    """``/v1/devices/{id}/settings`` and ``/v1/services/{id}/settings``."""

    def __init__(self, catalog: Catalog, config: CatalogConfig, role: str) -> None:
        super().__init__(catalog, config)
        self.role = role

    def on_get(self, req: falcon.Request, resp: falcon.Response, id: str) -> None:
        """Serve settings and record the poll; 304 when the ETag is current."""
        revision, settings = self.catalog.poll(self.role, id, req.get_header("Authorization"))
        etag = f'"r{revision}"'
        resp.set_header("ETag", etag)
        if _matches(req, etag):
            resp.status = falcon.HTTP_304
            return
        resp.content_type = JSON
        resp.text = settings


class Token(_Base):
    """``/v1/devices/{id}/token`` and ``/v1/services/{id}/token``."""

    def __init__(self, catalog: Catalog, config: CatalogConfig, role: str) -> None:
        super().__init__(catalog, config)
        self.role = role

    def on_post(self, req: falcon.Request, resp: falcon.Response, id: str) -> None:
        """Issue a new token."""
        self.admin(req)
        documents.check_id(id, self.role)
        resp.media = {"id": id, "token": self.catalog.rotate_token(self.role, id)}


class Brokers(_Base):
    """``/v1/brokers``."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Return the broker endpoints."""
        self.caller(req)
        resp.media = self.catalog.brokers()


class Broker(_Base):
    """``/v1/brokers/{name}``."""

    def on_put(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        """Add or change a broker endpoint."""
        self.admin(req)
        documents.check_id(name, "broker")
        endpoint = documents.broker(self.json_body(req))
        created = self.catalog.put_broker(name, endpoint)
        resp.status = falcon.HTTP_201 if created else falcon.HTTP_200
        resp.media = {"host": endpoint.host, "port": endpoint.port, "tls": endpoint.tls}


class Topology(_Base):
    """``/v1/topology``."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Return the current topology; 304 when the ETag is current."""
        caller = self.caller(req)
        if not caller.is_admin and caller.role != "service":
            raise AccessDeniedError("only the administrator and services read the topology")
        version, document = self.catalog.topology()
        etag = topology_etag(version)
        resp.set_header("ETag", etag)
        if _matches(req, etag):
            resp.status = falcon.HTTP_304
            return
        resp.media = document

    def on_put(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Store a new topology version under the If-Match / If-None-Match rules."""
        caller = self.caller(req)
        if not caller.is_admin and caller.role != "service":
            raise AccessDeniedError("only the administrator and services change the topology")
        document = self.json_body(req)
        if not isinstance(document, dict):
            raise InvalidInputError("the topology must be a JSON object")
        version, affected = self.catalog.put_topology(
            document,
            if_match=req.get_header("If-Match"),
            if_none_match=req.get_header("If-None-Match"),
        )
        resp.status = falcon.HTTP_201 if version == 1 else falcon.HTTP_200
        resp.set_header("ETag", topology_etag(version))
        resp.media = {"version": version, "affected": sorted(affected)}


class Packages(_Base):
    """``/v1/algorithms``."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """List the stored packages."""
        caller = self.caller(req)
        resp.media = {"items": [_package_view(p) for p in self.catalog.packages(caller)]}


class Package(_Base):
    """``/v1/algorithms/{name}/{version}``."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, name: str, version: str) -> None:
        """Send a package archive."""
        caller = self.caller(req)
        record = self.catalog.download(caller, name, version)
        resp.set_header("ETag", f'"{record.sha256}"')
        resp.content_type = OCTETS
        resp.data = record.archive

    def on_put(self, req: falcon.Request, resp: falcon.Response, name: str, version: str) -> None:
        """Verify and store a package."""
        self.admin(req)
        if req.content_type is None or req.content_type.split(";")[0].strip().lower() != OCTETS:
            raise falcon.HTTPUnsupportedMediaType(description=f"a package is sent as {OCTETS}")
        archive = read_body(req, self.config.max_package_bytes)
        record, created = self.catalog.upload(name, version, archive)
        resp.status = falcon.HTTP_201 if created else falcon.HTTP_200
        resp.media = _package_view(record)


class Health(_Base):
    """``/healthz``."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Answer when the store answers."""
        self.catalog.store.ping()
        resp.media = {"status": "ok"}


class OpenAPI:
    """``/openapi.json``."""

    def __init__(self) -> None:
        self._text = json.dumps(openapi.document())

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Send the OpenAPI document."""
        resp.content_type = JSON
        resp.text = self._text


class CatalogApp(falcon.App):
    """The Falcon application of the catalog; :attr:`catalog` is the :class:`Catalog` behind it."""

    catalog: Catalog


def create_app(config: CatalogConfig, *, store: Store, publisher: Publisher) -> CatalogApp:
    """Build the catalog's WSGI application.

    Parameters
    ----------
    config : CatalogConfig
        Settings.
    store : Store
        The opened store (see :func:`gridedge.catalog.store.open_store`).
    publisher : Publisher
        Where settings pushes and presence announcements go.

    Returns
    -------
    CatalogApp
        The application.
    """
    catalog = Catalog(config, store, publisher)
    app = CatalogApp(media_type=JSON)
    app.req_options.strip_url_path_trailing_slash = False
    # "?state=" is a malformed filter to report, not a missing one to ignore.
    app.req_options.keep_blank_qs_values = True
    app.add_error_handler(GridedgeError, _domain_error)
    app.add_error_handler(sqlite3.OperationalError, _store_unavailable)
    try:
        import psycopg
    except ImportError:
        pass
    else:
        app.add_error_handler(psycopg.OperationalError, _store_unavailable)
    for role, plural in openapi.ROLES.items():
        app.add_route(f"/v1/{plural}", PrincipalCollection(catalog, config, role))
        app.add_route(f"/v1/{plural}/{{id}}", PrincipalItem(catalog, config, role))
        app.add_route(f"/v1/{plural}/{{id}}/settings", Settings(catalog, config, role))
        app.add_route(f"/v1/{plural}/{{id}}/token", Token(catalog, config, role))
    app.add_route("/v1/brokers", Brokers(catalog, config))
    app.add_route("/v1/brokers/{name}", Broker(catalog, config))
    app.add_route("/v1/topology", Topology(catalog, config))
    app.add_route("/v1/algorithms", Packages(catalog, config))
    app.add_route("/v1/algorithms/{name}/{version}", Package(catalog, config))
    app.add_route("/healthz", Health(catalog, config))
    app.add_route("/openapi.json", OpenAPI())
    app.catalog = catalog
    return app
