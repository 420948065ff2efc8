"""The OpenAPI 3.1 description of the catalog, served at ``/openapi.json``.

The tests validate every response of the app against it and run schemathesis from it, so it
is kept next to the code it describes and changed with it.
"""

from typing import Any

from gridedge import __version__
from gridedge.catalog.auth import ID_PATTERN
from gridedge.catalog.documents import HOST_PATTERN, KIND_PATTERN, MAX_INTERVAL_S, MAX_TIMEOUT_S
from gridedge.packages import NAME_PATTERN, VERSION_PATTERN

ROLES = {"device": "devices", "service": "services"}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str, **extra: Any) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": schema}},
        **extra,
    }


def _errors(*codes: int) -> dict[str, Any]:
    return {str(code): {"$ref": f"#/components/responses/E{code}"} for code in codes}


_ERROR_TEXT = {
    400: "Malformed request: not JSON, or a field is invalid (the description says which)",
    401: "Credentials missing or not valid",
    403: "The credentials do not allow this",
    404: "No such resource",
    409: "Conflicts with the stored state",
    412: "The precondition (If-Match / If-None-Match) does not hold",
    413: "The body is larger than the catalog accepts",
    415: "The body has the wrong media type",
    422: "Well-formed, but the content does not hold together or fails verification",
    503: "The store cannot be reached",
}

_ID = {"type": "string", "pattern": f"^{ID_PATTERN}$"}
_SECONDS = {"type": "number", "minimum": 1}

_SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["title"],
        "properties": {"title": {"type": "string"}, "description": {"type": "string"}},
    },
    "Health": {
        "type": "object",
        "required": ["status"],
        "properties": {"status": {"const": "ok"}},
    },
    "AlgorithmAssignment": {
        "type": "object",
        "required": ["name", "version"],
        "additionalProperties": False,
        "properties": {
            "name": {"type": "string", "pattern": f"^{NAME_PATTERN}$"},
            "version": {"type": "string", "pattern": f"^{VERSION_PATTERN}$"},
            "parameters": {"type": "object"},
        },
    },
    "Registration": {
        "type": "object",
        "required": ["kind"],
        "additionalProperties": False,
        "properties": {
            "kind": {"type": "string", "pattern": f"^{KIND_PATTERN}$"},
            "timeout_s": {**_SECONDS, "maximum": MAX_TIMEOUT_S},
            "update_interval_s": {**_SECONDS, "maximum": MAX_INTERVAL_S},
            "algorithms": {"type": "array", "items": _ref("AlgorithmAssignment")},
            "parameters": {"type": "object"},
        },
    },
    "Principal": {
        "type": "object",
        "required": ["id", "role", "kind", "state", "state_since", "last_seen", "revision"],
        "properties": {
            "id": _ID,
            "role": {"enum": list(ROLES)},
            "kind": {"type": "string"},
            "state": {"enum": ["registered", "online", "disconnected"]},
            "state_since": {"type": "number"},
            "last_seen": {"type": ["number", "null"]},
            "revision": {"type": "integer"},
            "registration": {"type": "object"},
            "token": {
                "type": "string",
                "description": "Bearer token; only in the answer to the first registration",
            },
        },
    },
    "PrincipalList": {
        "type": "object",
        "required": ["items"],
        "properties": {"items": {"type": "array", "items": _ref("Principal")}},
    },
    "Token": {
        "type": "object",
        "required": ["id", "token"],
        "properties": {"id": _ID, "token": {"type": "string"}},
    },
    "Broker": {
        "type": "object",
        "required": ["host", "port"],
        "additionalProperties": False,
        "properties": {
            "host": {"type": "string", "pattern": f"^{HOST_PATTERN}$"},
            "port": {"type": "integer", "minimum": 1, "maximum": 65535},
            "tls": {"type": "boolean"},
        },
    },
    "BrokerMap": {"type": "object", "additionalProperties": _ref("Broker")},
    "AlgorithmSetting": {
        "type": "object",
        "required": ["name", "version", "sha256", "api_version", "entry_point", "url"],
        "properties": {
            "name": {"type": "string"},
            "version": {"type": "string"},
            "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
            "api_version": {"type": "integer"},
            "entry_point": {"type": "string"},
            "url": {"type": "string"},
            "parameters": {"type": "object"},
        },
    },
    "Settings": {
        "type": "object",
        "required": [
            "id",
            "kind",
            "revision",
            "update_interval_s",
            "timeout_s",
            "brokers",
            "topics",
            "algorithms",
            "topology",
            "parameters",
        ],
        "properties": {
            "id": _ID,
            "kind": {"type": "string"},
            "revision": {"type": "integer"},
            "update_interval_s": {"type": "number"},
            "timeout_s": {"type": "number"},
            "brokers": _ref("BrokerMap"),
            "topics": {"type": "object", "additionalProperties": {"type": "string"}},
            "algorithms": {"type": "array", "items": _ref("AlgorithmSetting")},
            "topology": {
                "type": ["object", "null"],
                "description": "This meter's portion of the grid topology, with its version",
            },
            "parameters": {"type": "object"},
        },
    },
    "TopologyChange": {
        "type": "object",
        "required": ["version", "affected"],
        "properties": {
            "version": {"type": "integer", "minimum": 1},
            "affected": {"type": "array", "items": {"type": "string"}},
        },
    },
    "Package": {
        "type": "object",
        "required": ["sha256", "name", "version", "manifest", "uploaded"],
        "properties": {
            "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
            "name": {"type": "string"},
            "version": {"type": "string"},
            "manifest": {"type": "object"},
            "uploaded": {"type": "number"},
        },
    },
    "PackageList": {
        "type": "object",
        "required": ["items"],
        "properties": {"items": {"type": "array", "items": _ref("Package")}},
    },
}

_ETAG_HEADER = {
    "ETag": {"description": "Revision of the representation", "schema": {"type": "string"}}
}


def _parameter(name: str, where: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": where,
        "required": where == "path",
        "schema": schema,
        "description": description,
    }


def _principal_paths(role: str) -> dict[str, Any]:
    plural = ROLES[role]
    ident = _parameter("id", "path", _ID, f"Id of the {role}")
    registration = {
        "required": True,
        "content": {"application/json": {"schema": _ref("Registration")}},
    }
    return {
        f"/v1/{plural}": {
            "get": {
                "operationId": f"list_{plural}",
                "summary": f"List {plural} (administrator and services)",
                "parameters": [
                    _parameter(
                        "state",
                        "query",
                        {"enum": ["registered", "online", "disconnected"]},
                        "Only those in this presence state",
                    ),
                    _parameter(
                        "kind",
                        "query",
                        {"type": "string", "pattern": f"^{KIND_PATTERN}$"},
                        "Only those of this kind",
                    ),
                ],
                "responses": {
                    "200": _json(_ref("PrincipalList"), f"The {plural}, by id"),
                    **_errors(400, 401, 403, 503),
                },
            }
        },
        f"/v1/{plural}/{{id}}": {
            "parameters": [ident],
            "get": {
                "operationId": f"get_{role}",
                "summary": f"A {role}'s record (administrator, services and itself)",
                "responses": {
                    "200": _json(_ref("Principal"), f"The {role}"),
                    **_errors(400, 401, 403, 404, 503),
                },
            },
            "put": {
                "operationId": f"register_{role}",
                "summary": f"Register a {role} or replace its registration (administrator)",
                "requestBody": registration,
                "responses": {
                    "200": _json(_ref("Principal"), "Registration replaced; settings pushed"),
                    "201": _json(
                        _ref("Principal"), "Registered; the answer holds its bearer token"
                    ),
                    **_errors(400, 401, 403, 409, 413, 415, 422, 503),
                },
            },
        },
        f"/v1/{plural}/{{id}}/settings": {
            "parameters": [ident],
            "get": {
                "operationId": f"get_{role}_settings",
                "summary": f"Self-configuration and auto-update of a {role}",
                "description": (
                    f"With the {role}'s own token, records it online and the time of the poll. "
                    "The administrator may read any settings without that."
                ),
                "parameters": [
                    _parameter(
                        "If-None-Match",
                        "header",
                        {"type": "string"},
                        "ETag of the settings held; 304 if still current",
                    )
                ],
                "responses": {
                    "200": _json(_ref("Settings"), "The settings", headers=_ETAG_HEADER),
                    "304": {"description": "Unchanged", "headers": _ETAG_HEADER},
                    **_errors(400, 401, 403, 404, 503),
                },
            },
        },
        f"/v1/{plural}/{{id}}/token": {
            "parameters": [ident],
            "post": {
                "operationId": f"rotate_{role}_token",
                "summary": f"Issue a new token to a {role}; the old one stops working",
                "responses": {
                    "200": _json(_ref("Token"), "The new token"),
                    **_errors(400, 401, 403, 404, 503),
                },
            },
        },
    }


def document() -> dict[str, Any]:
    """Return the OpenAPI document of the catalog."""
    package_parameters = [
        _parameter(
            "name", "path", {"type": "string", "pattern": f"^{NAME_PATTERN}$"}, "Package name"
        ),
        _parameter(
            "version",
            "path",
            {"type": "string", "pattern": f"^{VERSION_PATTERN}$"},
            "Package version",
        ),
    ]
    paths: dict[str, Any] = {
        "/healthz": {
            "get": {
                "operationId": "health",
                "summary": "Liveness: the store answers",
                "security": [],
                "responses": {"200": _json(_ref("Health"), "Healthy"), **_errors(503)},
            }
        },
        "/openapi.json": {
            "get": {
                "operationId": "openapi",
                "summary": "This document",
                "security": [],
                "responses": {"200": _json({"type": "object"}, "The OpenAPI document")},
            }
        },
        **_principal_paths("device"),
        **_principal_paths("service"),
        "/v1/brokers": {
            "get": {
                "operationId": "list_brokers",
                "summary": "Broker endpoints by name (any registered caller)",
                "responses": {
                    "200": _json(_ref("BrokerMap"), "The brokers"),
                    **_errors(401, 503),
                },
            }
        },
        "/v1/brokers/{name}": {
            "parameters": [_parameter("name", "path", _ID, "Broker name (grid, monitoring ...)")],
            "put": {
                "operationId": "put_broker",
                "summary": "Add or change a broker endpoint; every settings document changes",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("Broker")}},
                },
                "responses": {
                    "200": _json(_ref("Broker"), "Changed"),
                    "201": _json(_ref("Broker"), "Added"),
                    **_errors(400, 401, 403, 413, 415, 503),
                },
            },
        },
        "/v1/topology": {
            "get": {
                "operationId": "get_topology",
                "summary": "The current grid topology (administrator and services)",
                "parameters": [
                    _parameter(
                        "If-None-Match", "header", {"type": "string"}, "ETag held; 304 if current"
                    )
                ],
                "responses": {
                    "200": _json(
                        {"type": "object"},
                        "The grid, in gridedge's JSON format",
                        headers=_ETAG_HEADER,
                    ),
                    "304": {"description": "Unchanged", "headers": _ETAG_HEADER},
                    **_errors(401, 403, 404, 503),
                },
            },
            "put": {
                "operationId": "put_topology",
                "summary": "Store a new topology version (administrator and services)",
                "description": (
                    "Computes the meters whose portion changed, gives them new settings and "
                    "pushes those on MQTT (retained). The first version is created with "
                    "If-None-Match: *, later ones need If-Match with the current ETag."
                ),
                "parameters": [
                    _parameter(
                        "If-Match", "header", {"type": "string"}, "ETag of the current version"
                    ),
                    _parameter(
                        "If-None-Match",
                        "header",
                        {"type": "string"},
                        "* to create the first version",
                    ),
                ],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"type": "object"}}},
                },
                "responses": {
                    "200": _json(_ref("TopologyChange"), "Stored", headers=_ETAG_HEADER),
                    "201": _json(
                        _ref("TopologyChange"), "First version stored", headers=_ETAG_HEADER
                    ),
                    **_errors(400, 401, 403, 412, 413, 415, 422, 503),
                },
            },
        },
        "/v1/algorithms": {
            "get": {
                "operationId": "list_packages",
                "summary": "Algorithm packages (administrator and services)",
                "responses": {
                    "200": _json(_ref("PackageList"), "The packages"),
                    **_errors(401, 403, 503),
                },
            }
        },
        "/v1/algorithms/{name}/{version}": {
            "parameters": package_parameters,
            "get": {
                "operationId": "download_package",
                "summary": "Download a package (devices: only those their settings name)",
                "responses": {
                    "200": {
                        "description": "The signed package archive",
                        "headers": _ETAG_HEADER,
                        "content": {
                            "application/octet-stream": {
                                "schema": {"type": "string", "format": "binary"}
                            }
                        },
                    },
                    **_errors(400, 401, 403, 404, 503),
                },
            },
            "put": {
                "operationId": "upload_package",
                "summary": "Upload a signed package (administrator)",
                "description": (
                    "The signature, payload digest, interface version and expiry are verified; "
                    "a version must be higher than every stored version of the same name."
                ),
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/octet-stream": {
                            "schema": {"type": "string", "format": "binary"}
                        }
                    },
                },
                "responses": {
                    "200": _json(_ref("Package"), "Already stored with the same content"),
                    "201": _json(_ref("Package"), "Stored"),
                    **_errors(400, 401, 403, 409, 413, 415, 422, 503),
                },
            },
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "gridedge Device Catalog",
            "version": __version__,
            "description": (
                "Device and service registry, per-device settings (self-configuration and "
                "auto-update), algorithm packages and grid topology versions."
            ),
        },
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": _SCHEMAS,
            "responses": {
                f"E{code}": _json(_ref("Error"), text) for code, text in _ERROR_TEXT.items()
            },
        },
    }
