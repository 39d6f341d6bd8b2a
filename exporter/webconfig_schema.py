"""exporter-toolkit's web config file (``--web.config.file``) as a pydantic model, and its errors.

Supported: ``tls_server_config`` (``cert_file`` + ``key_file``, relative to the config file's directory as in
exporter-toolkit; ``client_auth_type``; ``client_ca_file``; ``min_version``, default TLS12; ``max_version``),
``basic_auth_users`` (user -> bcrypt hash) and ``http_server_config.headers``. ``cipher_suites``,
``prefer_server_cipher_suites``, ``curve_preferences`` and ``http2`` are accepted but ignored: they name Go
identifiers, and OpenSSL's TLS 1.2+ defaults only offer forward-secret AEAD suites anyway. Everything whose
absence would weaken security is an explicit error: unknown keys, inline ``cert``/``key``/``client_ca``,
``client_allowed_sans``, ``rate_limit``, and client-auth types that accept an unverified client certificate.

A mistake is reported like every settings model's (``cachewatch.spec.types.format_errors``): one line per
problem, never echoing a hash or key material, not even when it was pasted where a name belongs.
"""

from __future__ import annotations

import re
import ssl
from pathlib import Path
from typing import Annotated, Any, ClassVar

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    PlainValidator,
    PrivateAttr,
    StrictStr,
    ValidationError,
    ValidationInfo,
    model_validator,
)
from pydantic_core import PydanticCustomError

from cachewatch.logs import REDACTED
from cachewatch.spec.types import Strict, format_errors

CLIENT_AUTH: dict[str, ssl.VerifyMode] = {
    "NoClientCert": ssl.CERT_NONE,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
_CLIENT_AUTH_NAMES = {mode: name for name, mode in CLIENT_AUTH.items()}
_UNSUPPORTED_VALUES = dict.fromkeys(
    ("RequestClientCert", "RequireAnyClientCert"),
    "accepts client certificates without verifying them, which Python's ssl module cannot do")
TLS_VERSIONS: dict[str, ssl.TLSVersion] = {
    "TLS10": ssl.TLSVersion.TLSv1, "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2, "TLS13": ssl.TLSVersion.TLSv1_3,
}
INLINE = ("cert", "key", "client_ca")
UNSUPPORTED: dict[str, str] = {  # exporter-toolkit keys that must not be silently ignored
    "rate_limit": "put a reverse proxy in front of the exporter",
    **{f"tls_server_config.{k}": f"inline PEM is not supported; use {k}_file" for k in INLINE},
    "tls_server_config.client_allowed_sans": "issue client certificates from a dedicated CA instead",
}
# Headers owned by the exporter's HTTP server; overriding them would break auth or message framing.
RESERVED_HEADERS = frozenset({"authorization", "www-authenticate", "content-type", "content-length",
                              "content-encoding", "transfer-encoding", "connection", "date", "server"})
_BCRYPT_HASH = re.compile(r"\$2[aby]\$(0[4-9]|[12]\d|3[01])\$[./A-Za-z0-9]{53}")
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


class WebConfigError(ValueError):
    """Invalid web config; the message names file, field and what is allowed, never a secret."""


def _looks_secret(text: str) -> bool:
    """A bcrypt hash, or PEM key material pasted where a name belongs."""
    return "$2" in text or "-----BEGIN" in text or "\n" in text


def _show(value: object) -> str:
    """Echo a key (a user or header name) in an error, redacting anything that could be a hash or a token."""
    text = str(value)
    return REDACTED if _looks_secret(text) or len(text) > 48 else text


def _err(src: Path, where: str, msg: str) -> WebConfigError:
    return WebConfigError(f"{src}: {where}: {msg}")


# --- value types: each says what it accepts, in exporter-toolkit's terms ------------------------------------
def _absent_is_empty(value: object) -> object:
    return {} if value is None else value


def _choice(table: dict[str, Any], default: str) -> PlainValidator:
    """A name from ``table`` (blank means ``default``, as in exporter-toolkit) → its value; errors list the names."""
    def pick(value: object) -> Any:
        name = value or default
        if isinstance(name, str) and name in table:
            return table[name]
        why = (isinstance(name, str) and _UNSUPPORTED_VALUES.get(name)) or "unknown value"
        raise ValueError(f"{why}; supported: {', '.join(table)}")
    return PlainValidator(pick)


def _readable(value: object, info: ValidationInfo) -> Path | None:
    """Resolve a file name against the config's directory (as exporter-toolkit does) and check it opens."""
    if not value:
        if info.field_name == "client_ca_file":
            return None
        raise ValueError("required; cert_file and key_file go together")
    path = (info.context or {}).get("directory", Path()) / str(value)
    try:
        path.open("rb").close()
    except OSError as exc:
        raise ValueError(f"cannot read {REDACTED if _looks_secret(str(path)) else path}: {exc.strerror}") from None
    return path


def _user_name(name: str) -> str:
    if not name or ":" in name:
        raise ValueError("user names must be non-empty strings without ':'")
    return name


def _bcrypt_hash(hashed: str) -> str:
    if not _BCRYPT_HASH.fullmatch(hashed):
        raise ValueError("not a bcrypt hash; expected $2a$, $2b$ or $2y$ with cost 04-31 "
                         "(e.g. from: htpasswd -nBC 10 '' | tr -d ':\\n')")
    return hashed


def _header_name(name: str) -> str:
    if not _HEADER_NAME.fullmatch(name):
        raise ValueError("not a valid HTTP header name")
    if name.lower() in RESERVED_HEADERS:
        raise ValueError(f"reserved for the exporter: {', '.join(sorted(RESERVED_HEADERS))}")
    return name


def _header_value(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("value must be a string without control characters (quote it in YAML)")
    return value


ReadableFile = Annotated[Path, PlainValidator(_readable)]
UserName = Annotated[StrictStr, AfterValidator(_user_name)]
BcryptHash = Annotated[StrictStr, AfterValidator(_bcrypt_hash)]
HeaderName = Annotated[StrictStr, AfterValidator(_header_name)]
HeaderValue = Annotated[StrictStr, AfterValidator(_header_value)] | None  # blank: unset, as in exporter-toolkit


# --- the file's sections -------------------------------------------------------------------------------------
class _Section(Strict):
    """A mapping of exporter-toolkit's web config. ``IGNORED`` keys are accepted and dropped: they name Go
    identifiers (cipher suites, curves) that OpenSSL's TLS 1.2+ defaults make moot."""

    IGNORED: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="before")
    @classmethod
    def _drop_ignored(cls, data: object) -> object:
        return {k: v for k, v in data.items() if k not in cls.IGNORED} if isinstance(data, dict) else data

    @classmethod
    def allowed(cls) -> list[str]:
        return sorted({*cls.model_fields, *cls.IGNORED})


class TlsServerConfig(_Section):
    """Validated ``tls_server_config``; paths are absolute so a reload from another cwd still works."""

    IGNORED = frozenset({"cipher_suites", "prefer_server_cipher_suites", "curve_preferences"})

    cert_file: ReadableFile = Field(None, validate_default=True)
    key_file: ReadableFile = Field(None, validate_default=True)
    client_auth_type: Annotated[ssl.VerifyMode, _choice(CLIENT_AUTH, "NoClientCert")] = ssl.CERT_NONE
    client_ca_file: ReadableFile | None = None
    min_version: Annotated[ssl.TLSVersion, _choice(TLS_VERSIONS, "TLS12")] = ssl.TLSVersion.TLSv1_2
    max_version: Annotated[ssl.TLSVersion, _choice(TLS_VERSIONS, "TLS13")] = ssl.TLSVersion.TLSv1_3
    _source: Path = PrivateAttr(Path())

    def model_post_init(self, context: Any) -> None:
        self._source = (context or {}).get("source", Path())

    @model_validator(mode="after")
    def _consistent(self) -> TlsServerConfig:
        if self.client_auth_type == ssl.CERT_NONE:
            if self.client_ca_file is not None:
                raise ValueError("client_ca_file is set, but NoClientCert verifies no client certificate")
        elif self.client_ca_file is None:
            raise ValueError(f"client_ca_file is required with client_auth_type "
                             f"{_CLIENT_AUTH_NAMES[self.client_auth_type]}")
        if self.min_version > self.max_version:
            raise ValueError("min_version must not be greater than max_version")
        return self

    def context(self) -> ssl.SSLContext:
        """A fresh server context that reads the files again, so rotated certificates are picked up."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version, ctx.maximum_version = self.min_version, self.max_version

        def no_password() -> bytes:  # without a callback OpenSSL would prompt on the terminal and hang
            raise _err(self._source, "tls_server_config.key_file", "encrypted private keys are not supported")

        try:
            ctx.load_cert_chain(self.cert_file, self.key_file, password=no_password)
        except OSError as exc:  # ssl.SSLError is an OSError
            raise _err(self._source, "tls_server_config.cert_file/key_file", f"cannot load: {exc}") from None
        if self.client_ca_file is not None:
            try:
                ctx.load_verify_locations(cafile=self.client_ca_file)
            except OSError as exc:
                raise _err(self._source, "tls_server_config.client_ca_file", f"cannot load: {exc}") from None
        ctx.verify_mode = self.client_auth_type
        return ctx


class HttpServerConfig(_Section):
    IGNORED = frozenset({"http2"})

    headers: Annotated[dict[HeaderName, HeaderValue], BeforeValidator(_absent_is_empty)] = Field(
        default_factory=dict)


class WebConfigFile(_Section):
    """The whole file. An empty ``tls_server_config`` means plain HTTP, as in exporter-toolkit."""

    tls_server_config: Annotated[TlsServerConfig | None, BeforeValidator(lambda v: None if v == {} else v)] = None
    http_server_config: Annotated[HttpServerConfig, BeforeValidator(_absent_is_empty)] = HttpServerConfig()
    basic_auth_users: Annotated[dict[UserName, BcryptHash], BeforeValidator(_absent_is_empty)] = Field(
        default_factory=dict)


# --- errors: one line per problem, never a secret -----------------------------------------------------------
SECTIONS: dict[str, type[_Section]] = {"": WebConfigFile, "tls_server_config": TlsServerConfig,
                                       "http_server_config": HttpServerConfig}
# Fields whose (wrong) string values are names or file paths, safe to echo; anything else may be a hash, a key
# pasted inline, or a header carrying a token.
ECHOABLE = frozenset({"cert_file", "key_file", "client_ca_file", "client_auth_type", "min_version", "max_version"})


def _message(kind: str, path: str, given: object, msg: str) -> str:
    """exporter-toolkit's vocabulary for pydantic's generic complaints: what is allowed, where to look."""
    if kind == "extra_forbidden":
        if path in UNSUPPORTED:
            return f"not supported by cachewatch; {UNSUPPORTED[path]}"
        section = SECTIONS.get(path.rpartition(".")[0])
        return "unknown key" + (f"; allowed: {', '.join(section.allowed())}" if section else "")
    if kind in ("model_type", "dict_type"):
        return f"must be a mapping, not {type(given).__name__}"
    return msg


def _worded(exc: ValidationError) -> ValidationError:
    """The same problems with every path part that could be a secret (a hash pasted as a key) redacted, and
    messages in exporter-toolkit's terms."""
    problems = []
    for err in exc.errors():
        loc = tuple(p if isinstance(p, int) else _show(p) for p in err["loc"])
        message = _message(err["type"], ".".join(map(str, loc)), err["input"], err["msg"])
        problems.append({"type": PydanticCustomError(err["type"], "{message}", {"message": message}),
                         "loc": loc, "input": err["input"]})
    return ValidationError.from_exception_data(exc.title, problems)


def _shown(loc: tuple, value: object, kind: str) -> str:
    if kind == "extra_forbidden":  # a misplaced key's value: could be inline PEM or a hash
        return "a value not shown"
    if value is None or isinstance(value, bool | int | float):
        return repr(value)
    if isinstance(value, dict):
        return "{…}"
    if isinstance(value, str) and loc and loc[-1] in ECHOABLE:
        return repr(REDACTED if _looks_secret(value) else value[:200])
    return "a value not shown"


def parse(raw: object, src: Path) -> WebConfigFile:
    """Validate the YAML document of ``src``; raise WebConfigError with every problem, one per line."""
    try:
        return WebConfigFile.model_validate({} if raw is None else raw,
                                            context={"source": src, "directory": src.parent})
    except ValidationError as exc:
        raise WebConfigError(format_errors(_worded(exc), str(src), shown=_shown)) from None
