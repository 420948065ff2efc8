"""Bearer tokens: issued per device or service at registration, kept only as hashes.

A token reads ``{principal id}.{secret}``: the id says whose hash to compare with, the secret
is 32 random bytes (URL-safe base64, never holding a dot). A plain sha256 of such a secret is
as strong as a slow password hash would be, and lets a poll authenticate inside the same
statement that records it. The administrator's token is any string whose sha256 is in the
configuration.
"""

import dataclasses
import hashlib
import hmac
import re
import secrets

from gridedge.catalog.store import Store
from gridedge.errors import AccessDeniedError, AuthenticationError

ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_@-]{0,63}"
_ID = re.compile(ID_PATTERN)
ADMIN = "admin"


@dataclasses.dataclass(frozen=True)
class Caller:
    """Who made a request: the administrator, or a principal of role ``device``/``service``."""

    role: str
    id: str | None = None

    @property
    def is_admin(self) -> bool:
        """Whether the caller is the administrator."""
        return self.role == ADMIN


def sha256_hex(text: str) -> str:
    """Return the hex sha256 of a string's UTF-8 bytes."""
    return hashlib.sha256(text.encode()).hexdigest()


def issue_token(principal_id: str) -> tuple[str, str]:
    """Make a new token for a principal; return it and the hash to store."""
    secret = secrets.token_urlsafe(32)
    return f"{principal_id}.{secret}", sha256_hex(secret)


def split_token(token: str) -> tuple[str, str] | None:
    """Return (principal id, secret) of a well-formed principal token, else None."""
    principal_id, dot, secret = token.rpartition(".")
    if not dot or not secret or _ID.fullmatch(principal_id) is None:
        return None
    return principal_id, secret


def bearer(header: str | None) -> str:
    """Return the token of an ``Authorization: Bearer`` header.

    Raises
    ------
    AuthenticationError
        No header, another scheme, or an empty token.
    """
    if not header:
        raise AuthenticationError("credentials are required: Authorization: Bearer TOKEN")
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise AuthenticationError("credentials must be sent as Authorization: Bearer TOKEN")
    return token


class Authenticator:
    """Turn an ``Authorization`` header into a :class:`Caller`.

    Parameters
    ----------
    admin_token_sha256 : str
        Hex sha256 of the administrator's token; empty: no administrator.
    store : Store
        Where principals' token hashes are.
    """

    def __init__(self, admin_token_sha256: str, store: Store) -> None:
        self._admin = admin_token_sha256
        self._store = store

    def is_admin_token(self, token: str) -> bool:
        """Whether `token` is the administrator's."""
        return bool(self._admin) and hmac.compare_digest(sha256_hex(token), self._admin)

    def authenticate(self, header: str | None) -> Caller:
        """Identify the caller.

        Raises
        ------
        AuthenticationError
            Missing, malformed, unknown or wrong token; the message never says which.
        """
        token = bearer(header)
        if self.is_admin_token(token):
            return Caller(ADMIN)
        parts = split_token(token)
        if parts is not None:
            principal = self._store.reader().principal(parts[0])
            if principal is not None and hmac.compare_digest(
                sha256_hex(parts[1]), principal.token_sha256
            ):
                return Caller(principal.role, principal.id)
        raise AuthenticationError("the credentials are not valid")


def require(caller: Caller, *roles: str) -> None:
    """Refuse a caller whose role is not among `roles` (the administrator always passes).

    Raises
    ------
    AccessDeniedError
        The caller may not do this.
    """
    if not caller.is_admin and caller.role not in roles:
        raise AccessDeniedError("these credentials do not allow this operation")
