"""``--web.config.file``: TLS and basic auth in exporter-toolkit's web configuration format.

The keys are exporter-toolkit's (web/tls_config.go, docs/web-configuration.md):
``tls_server_config`` (``cert_file``, ``key_file``, ``client_auth_type`` with
``client_ca_file``, ``min_version``, ``max_version``), ``http_server_config``
(``headers``; ``http2`` is accepted and means nothing here: the server speaks HTTP/1.1) and
``basic_auth_users`` (user: bcrypt hash). As exporter-toolkit decodes strictly, an unknown
key is an error; keys it knows that fastping does not implement (inline ``cert``/``key``,
cipher and curve lists, allowed SANs, ``rate_limit``) are errors that say so, never
silently ignored. Relative file names are taken from the config file's directory.

Passwords are checked as exporter-toolkit does: an unknown user is checked against a fixed
hash (no timing difference that tells users apart), one bcrypt at a time (it is meant to be
slow), and the outcome cached for a (user, hash, password) so a scraper that sends the same
credentials every time pays for bcrypt once.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
import ssl
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .config import ConfigError, check_keys, excerpt
from .http import in_thread, text

if TYPE_CHECKING:
    from aiohttp import web

    from .http import Handler

_TOP_KEYS = {"tls_server_config", "http_server_config", "basic_auth_users", "rate_limit"}
_TLS_KEYS = {"cert", "key", "client_ca", "cert_file", "key_file", "client_auth_type",
             "client_ca_file", "client_allowed_sans", "min_version", "max_version",
             "cipher_suites", "prefer_server_cipher_suites", "curve_preferences"}
_TLS_UNSUPPORTED = {"cert", "key", "client_ca", "client_allowed_sans", "cipher_suites",
                    "curve_preferences"}
_HTTP_KEYS = {"http2", "headers"}
_HEADERS = {"Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options",
            "X-XSS-Protection", "Strict-Transport-Security"}
_VERSIONS = {"TLS10": ssl.TLSVersion.TLSv1, "TLS11": ssl.TLSVersion.TLSv1_1,
             "TLS12": ssl.TLSVersion.TLSv1_2, "TLS13": ssl.TLSVersion.TLSv1_3}
_CLIENT_AUTH = {"NoClientCert": ssl.CERT_NONE, "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
                "RequireAndVerifyClientCert": ssl.CERT_REQUIRED}
# exporter-toolkit's hash of "fakepassword": what an unknown user's password is checked against.
_FAKE_HASH = b"$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi"
_CACHE_SIZE = 100

log = logging.getLogger(__package__)


@dataclass(frozen=True)
class WebConfig:
    """What a web configuration file asks for: TLS (or None) and the certificate and key
    files it was made of, users, extra headers."""

    tls: ssl.SSLContext | None
    users: Mapping[str, bytes]
    headers: Mapping[str, str]
    certificate: tuple[str, str] = ("", "")


def _section(document: Mapping[str, object], key: str, known: set[str],
             where: str) -> dict[str, object]:
    section = document.get(key) or {}
    if not isinstance(section, dict):
        raise ConfigError(f"{where}: {key} must be a mapping")
    check_keys(section, known, f"{where}: {key}")
    return section


def _tls(section: dict[str, object], directory: str,
         where: str) -> tuple[ssl.SSLContext | None, tuple[str, str]]:
    unsupported = (set(section) & _TLS_UNSUPPORTED) - {k for k, v in section.items() if not v}
    if unsupported:
        raise ConfigError(f"{where}: tls_server_config: {sorted(unsupported)} not supported "
                          "by fastping (give cert_file and key_file)")
    if not section:
        return None, ("", "")
    paths = {}
    for key in ("cert_file", "key_file", "client_ca_file"):
        value = section.get(key) or ""
        if not isinstance(value, str):
            raise ConfigError(f"{where}: {key} must be a file name")
        paths[key] = os.path.join(directory, value) if value else ""
    if not paths["cert_file"] or not paths["key_file"]:
        raise ConfigError(f"{where}: tls_server_config needs cert_file and key_file")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.minimum_version = _VERSIONS[str(section.get("min_version") or "TLS12")]
        context.maximum_version = _VERSIONS[str(section.get("max_version") or "TLS13")]
        context.verify_mode = _CLIENT_AUTH[str(section.get("client_auth_type") or "NoClientCert")]
    except KeyError as error:
        raise ConfigError(f"{where}: tls_server_config: unknown or unsupported value "
                          f"{excerpt(error.args[0])}") from None
    try:
        context.load_cert_chain(paths["cert_file"], paths["key_file"])
        if paths["client_ca_file"]:
            context.load_verify_locations(paths["client_ca_file"])
    except (OSError, ssl.SSLError) as error:
        raise ConfigError(f"{where}: tls_server_config: {error}") from None
    if context.verify_mode != ssl.CERT_NONE and not paths["client_ca_file"]:
        raise ConfigError(f"{where}: client_auth_type needs client_ca_file")
    return context, (paths["cert_file"], paths["key_file"])


def load_web_config(path: str) -> WebConfig:
    """The web configuration in path; ConfigError, saying where and why, if it is unusable."""
    import yaml

    try:
        with open(path, encoding="utf-8") as file:
            document = yaml.safe_load(file) or {}
    except OSError as error:
        raise ConfigError(f"{path}: {error.strerror or error}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: not valid YAML: {excerpt(str(error))}") from None
    if not isinstance(document, dict):
        raise ConfigError(f"{path}: expected a mapping of {sorted(_TOP_KEYS)}")
    check_keys(document, _TOP_KEYS, path)
    if document.get("rate_limit"):
        raise ConfigError(f"{path}: rate_limit is not supported by fastping")
    http_section = _section(document, "http_server_config", _HTTP_KEYS, path)
    headers = http_section.get("headers") or {}
    if not isinstance(headers, dict) or not set(headers) <= _HEADERS:
        raise ConfigError(f"{path}: http_server_config: headers may be {sorted(_HEADERS)}")
    users = document.get("basic_auth_users") or {}
    if not isinstance(users, dict) or not all(
            isinstance(user, str) and isinstance(hashed, str) and hashed.startswith("$2")
            for user, hashed in users.items()):
        raise ConfigError(f"{path}: basic_auth_users: expected user: bcrypt hash ($2...)")
    if users:
        try:
            import bcrypt  # noqa: F401
        except ImportError:  # pragma: no cover - depends on the environment
            raise ConfigError(f"{path}: basic_auth_users needs bcrypt: "
                              "pip install 'fastping[exporter]'") from None
    tls, certificate = _tls(_section(document, "tls_server_config", _TLS_KEYS, path),
                            os.path.dirname(os.path.abspath(path)), path)
    return WebConfig(tls, {user: hashed.encode() for user, hashed in users.items()},
                     {str(k): str(v) for k, v in headers.items()}, certificate)


class BasicAuth:
    """401 with WWW-Authenticate unless a request carries a user's password."""

    def __init__(self, users: Mapping[str, bytes]) -> None:
        self._users = dict(users)
        self._cache: dict[bytes, bool] = {}
        self._bcrypt_lock = threading.Lock()

    def _check(self, user: str, password: bytes) -> bool:
        import bcrypt

        hashed = self._users.get(user)
        key = hashlib.sha256(b"\0".join((user.encode(), hashed or b"", password))).digest()
        known = self._cache.get(key)
        if known is not None:
            return known
        with self._bcrypt_lock:
            try:
                matches = bcrypt.checkpw(password, hashed or _FAKE_HASH)
            except ValueError:  # a malformed hash in the file: nobody gets in with it
                matches = False
        if len(self._cache) >= _CACHE_SIZE:
            self._cache.clear()
        self._cache[key] = matches and hashed is not None
        return self._cache[key]

    async def refusal(self, request: web.BaseRequest) -> web.StreamResponse | None:
        """None if the request may go on, else its 401."""
        scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "basic":
            try:
                user, _, password = base64.b64decode(encoded, validate=True).partition(b":")
                name = user.decode()
            except (binascii.Error, UnicodeDecodeError):
                name, password = "", b""
            allowed = name != "" and await in_thread(self._check, name, password)
            if allowed:
                return None
        response = text(401, "Unauthorized")
        response.headers["WWW-Authenticate"] = "Basic"
        return response


def _stamp(path: str) -> tuple[int, int, int] | None:
    try:
        status = os.stat(path)
    except OSError:
        return None
    return status.st_mtime_ns, status.st_size, status.st_ino


class WebGate:
    """The server's gate for ``--web.config.file``: basic auth and headers on every request.

    exporter-toolkit reads the file on every request, and the certificate and key on every
    TLS handshake, so new users, passwords and certificates apply at once; here a stat of
    each per request and per new connection (before its TLS handshake) notices a change,
    and they are read again. A file that has become unusable is logged and the last good one
    stays in force (exporter-toolkit answers 500, or fails the handshake, until it is
    fixed). The certificate and key are loaded into the running TLS context (rotating them
    needs no restart); turning TLS on or off, or changing its other settings, needs one.
    """

    def __init__(self, path: str) -> None:
        self._path = path
        self.config = load_web_config(path)
        self._stamp = self._stamps(self.config)
        self.tls = self.config.tls
        self._auth = BasicAuth(self.config.users)

    def refresh(self) -> None:
        """Reads the file again if it changed (a stat when it did not)."""
        if self._stamps(self.config) == self._stamp:
            return
        try:
            config = load_web_config(self._path)
            self._stamp = self._stamps(config)
            if (config.tls is None) != (self.tls is None):
                raise ConfigError(f"{self._path}: turning TLS on or off needs a restart")
            if self.tls is not None:
                self.tls.load_cert_chain(*config.certificate)
        except (ConfigError, OSError, ssl.SSLError) as error:
            self._stamp = self._stamps(self.config)  # logged once, not per request
            log.error("keeping the web configuration as it was: %s", error)
            return
        self.config = config
        self._auth = BasicAuth(config.users)

    def _stamps(self, config: WebConfig) -> tuple[object, ...]:
        """What tells that the file, or the certificate or key it names, has changed."""
        return (_stamp(self._path), *(_stamp(name) for name in config.certificate if name))

    async def __call__(self, request: web.BaseRequest, route: Handler) -> web.StreamResponse:
        self.refresh()
        refusal = await self._auth.refusal(request) if self.config.users else None
        response = refusal or await route(request)
        response.headers.update(self.config.headers)
        return response
