"""Signed algorithm packages: build, sign and verify.

A package is a ZIP archive holding exactly three members:

``manifest.json``
    UTF-8 JSON object: ``name``, ``version`` (dot-separated integers, only ever going up),
    ``api_version`` (integer), ``entry_point`` (``module:function``), ``payload_sha256``
    (hex), ``expires`` (RFC 3339 UTC, ``YYYY-MM-DDTHH:MM:SSZ``) and ``key_id`` (first 16 hex
    digits of the sha256 of the raw public key that signs it).
``manifest.sig``
    The 64-byte Ed25519 signature of the exact bytes of ``manifest.json``.
``payload.zip``
    The algorithm's files; its sha256 is in the manifest, so the signature covers it.

:func:`verify` checks all of it before anything inside the payload is looked at. The catalog
uses it when a package is uploaded, the meter before it installs one. The format is described
for people in ``docs/packages.md``.
"""

import dataclasses
import datetime
import hashlib
import io
import json
import re
import zipfile
from collections.abc import Iterable, Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from gridedge.errors import InvalidInputError, VerificationError

MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
PAYLOAD = "payload.zip"
API_VERSION = 1
"""The algorithm interface version this gridedge release runs."""

MAX_MANIFEST_BYTES = 16 * 1024
NAME_PATTERN = r"[a-z][a-z0-9_-]{0,63}"
VERSION_PATTERN = r"(0|[1-9][0-9]{0,8})(\.(0|[1-9][0-9]{0,8})){0,3}"
_NAME = re.compile(NAME_PATTERN)
_VERSION = re.compile(VERSION_PATTERN)
_ENTRY_POINT = re.compile(
    r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*"
)
_EXPIRES = "%Y-%m-%dT%H:%M:%SZ"


@dataclasses.dataclass(frozen=True)
class Manifest:
    """What a package claims to be; see the module documentation for each field."""

    name: str
    version: str
    api_version: int
    entry_point: str
    payload_sha256: str
    expires: datetime.datetime
    key_id: str

    def to_json(self) -> bytes:
        """Encode the manifest as the canonical bytes that get signed."""
        document = dataclasses.asdict(self)
        document["expires"] = self.expires.strftime(_EXPIRES)
        return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> "Manifest":
        """Parse and check a manifest.

        Raises
        ------
        VerificationError
            Not a JSON object, a field missing, unknown or malformed.
        """
        try:
            document = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise VerificationError(f"{MANIFEST} is not JSON: {exc}") from None
        if not isinstance(document, dict):
            raise VerificationError(f"{MANIFEST} must hold a JSON object")
        names = {f.name for f in dataclasses.fields(cls)}
        if set(document) != names:
            missing, unknown = names - set(document), set(document) - names
            raise VerificationError(
                f"{MANIFEST}: missing {sorted(missing)}, unknown {sorted(unknown)}"
            )
        expires = document["expires"]
        try:
            moment = datetime.datetime.strptime(expires, _EXPIRES).replace(tzinfo=datetime.UTC)
        except (TypeError, ValueError):
            raise VerificationError(f"{MANIFEST}: expires {expires!r} is not {_EXPIRES}") from None
        try:
            return cls(
                name=document["name"],
                version=document["version"],
                api_version=document["api_version"],
                entry_point=document["entry_point"],
                payload_sha256=document["payload_sha256"],
                expires=moment,
                key_id=document["key_id"],
            )
        except InvalidInputError as exc:
            raise VerificationError(f"{MANIFEST}: {exc}") from None

    def __post_init__(self) -> None:
        _check(self.name, _NAME, "name")
        _check(self.version, _VERSION, "version")
        _check(self.entry_point, _ENTRY_POINT, "entry_point")
        _check(self.payload_sha256, re.compile(r"[0-9a-f]{64}"), "payload_sha256")
        _check(self.key_id, re.compile(r"[0-9a-f]{16}"), "key_id")
        if not isinstance(self.api_version, int) or isinstance(self.api_version, bool):
            raise InvalidInputError(f"api_version {self.api_version!r} is not an integer")
        if self.expires.tzinfo is None:
            raise InvalidInputError("expires must be an aware datetime (UTC)")


@dataclasses.dataclass(frozen=True)
class VerifiedPackage:
    """A package whose signature, digest, interface version and expiry were checked.

    Attributes
    ----------
    manifest : Manifest
        The signed manifest.
    payload : bytes
        The ZIP archive of the algorithm's files.
    sha256 : str
        Hex sha256 of the whole package: its content address.
    """

    manifest: Manifest
    payload: bytes
    sha256: str


def parse_version(version: str) -> tuple[int, ...]:
    """Turn ``"1.10.2"`` into ``(1, 10, 2)`` so that versions compare as numbers.

    Raises
    ------
    InvalidInputError
        Not 1 to 4 dot-separated non-negative integers without leading zeros.
    """
    _check(version, _VERSION, "version")
    parts = tuple(int(p) for p in version.split("."))
    # Trailing zeros do not make a version newer: 1.2 and 1.2.0 are the same.
    while len(parts) > 1 and parts[-1] == 0:
        parts = parts[:-1]
    return parts


def key_id(public_key: Ed25519PublicKey) -> str:
    """Return the identifier of an Ed25519 public key: 16 hex digits of its sha256."""
    raw = public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def load_public_key(text: str) -> Ed25519PublicKey:
    """Read a raw Ed25519 public key written as 64 hex digits.

    Raises
    ------
    InvalidInputError
        Not 32 bytes of hex.
    """
    try:
        raw = bytes.fromhex(text.strip())
    except ValueError:
        raise InvalidInputError(f"public key {text!r} is not hex") from None
    if len(raw) != 32:
        raise InvalidInputError(f"public key {text!r} is {len(raw)} bytes, not 32")
    return Ed25519PublicKey.from_public_bytes(raw)


def zip_files(files: Mapping[str, bytes]) -> bytes:
    """Pack `files` (archive path -> content) into a deterministic ZIP archive."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(files):
            info = zipfile.ZipInfo(path, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, files[path])
    return buffer.getvalue()


def build(
    *,
    name: str,
    version: str,
    entry_point: str,
    files: Mapping[str, bytes],
    expires: datetime.datetime,
    private_key: Ed25519PrivateKey,
    api_version: int = API_VERSION,
) -> bytes:
    """Build and sign a package.

    Parameters
    ----------
    name, version, entry_point : str
        Manifest fields (see the module documentation).
    files : mapping of str to bytes
        The algorithm's files by path inside the payload.
    expires : datetime.datetime
        Aware time after which meters refuse the package.
    private_key : Ed25519PrivateKey
        The signing key.
    api_version : int
        Algorithm interface version the package is written against.

    Returns
    -------
    bytes
        The package archive.
    """
    payload = zip_files(files)
    manifest = Manifest(
        name=name,
        version=version,
        api_version=api_version,
        entry_point=entry_point,
        payload_sha256=hashlib.sha256(payload).hexdigest(),
        expires=expires.astimezone(datetime.UTC).replace(microsecond=0),
        key_id=key_id(private_key.public_key()),
    )
    raw = manifest.to_json()
    return zip_files({MANIFEST: raw, SIGNATURE: private_key.sign(raw), PAYLOAD: payload})


def verify(
    package: bytes,
    trusted_keys: Iterable[Ed25519PublicKey],
    *,
    now: datetime.datetime | None = None,
    api_versions: Iterable[int] = (API_VERSION,),
    max_payload_bytes: int = 64 * 1024 * 1024,
) -> VerifiedPackage:
    """Check a package completely; return its manifest and payload.

    Parameters
    ----------
    package : bytes
        The package archive.
    trusted_keys : iterable of Ed25519PublicKey
        Keys a package may be signed with.
    now : datetime.datetime, optional
        Aware time to check the expiry against; the current time by default.
    api_versions : iterable of int
        Interface versions the caller can run.
    max_payload_bytes : int
        Largest uncompressed payload accepted (a guard against archive bombs).

    Raises
    ------
    VerificationError
        Not a package archive, unknown key, bad signature, payload digest mismatch,
        unsupported interface version or expired.
    """
    members = _read_members(package, max_payload_bytes)
    raw = members[MANIFEST]
    manifest = Manifest.from_json(raw)
    keys = {key_id(k): k for k in trusted_keys}
    if manifest.key_id not in keys:
        raise VerificationError(
            f"package {manifest.name} {manifest.version}: key {manifest.key_id} is not trusted"
        )
    try:
        keys[manifest.key_id].verify(members[SIGNATURE], raw)
    except InvalidSignature:
        raise VerificationError(
            f"package {manifest.name} {manifest.version}: signature does not match the manifest"
        ) from None
    digest = hashlib.sha256(members[PAYLOAD]).hexdigest()
    if digest != manifest.payload_sha256:
        raise VerificationError(
            f"package {manifest.name} {manifest.version}: payload sha256 {digest} differs from "
            f"the manifest's {manifest.payload_sha256}"
        )
    if manifest.api_version not in set(api_versions):
        raise VerificationError(
            f"package {manifest.name} {manifest.version}: api_version {manifest.api_version} "
            "is not supported"
        )
    moment = now or datetime.datetime.now(datetime.UTC)
    if manifest.expires <= moment:
        raise VerificationError(
            f"package {manifest.name} {manifest.version} expired at "
            f"{manifest.expires.strftime(_EXPIRES)}"
        )
    return VerifiedPackage(manifest, members[PAYLOAD], hashlib.sha256(package).hexdigest())


def _read_members(package: bytes, max_payload_bytes: int) -> dict[str, bytes]:
    limits = {MANIFEST: MAX_MANIFEST_BYTES, SIGNATURE: 64, PAYLOAD: max_payload_bytes}
    try:
        archive = zipfile.ZipFile(io.BytesIO(package))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError) as exc:
        raise VerificationError(f"not a package archive: {exc}") from None
    with archive:
        names = sorted(i.filename for i in archive.infolist())
        if names != sorted(limits):
            raise VerificationError(
                f"a package holds exactly {MANIFEST}, {SIGNATURE} and {PAYLOAD}; got {names}"
            )
        members = {}
        for info in archive.infolist():
            # The declared size bounds what zipfile decompresses: no archive bomb gets through.
            if info.file_size > limits[info.filename]:
                raise VerificationError(
                    f"package member {info.filename} is {info.file_size} bytes, "
                    f"more than {limits[info.filename]}"
                )
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise VerificationError(f"package member {info.filename}: unsupported compression")
            try:
                members[info.filename] = archive.read(info)
            except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
                raise VerificationError(f"package member {info.filename}: {exc}") from None
    if len(members[SIGNATURE]) != 64:
        raise VerificationError(f"{SIGNATURE} must be 64 bytes, got {len(members[SIGNATURE])}")
    return members


def _check(value: Any, pattern: re.Pattern[str], field: str) -> None:
    if not isinstance(value, str) or pattern.fullmatch(value) is None:
        raise InvalidInputError(f"{field} {value!r} does not match {pattern.pattern}")
