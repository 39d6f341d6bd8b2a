"""WebConfig: exporter-toolkit web-config parsing, real TLS handshakes and cached bcrypt basic auth."""

from __future__ import annotations

import base64
import socket
import ssl
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import bcrypt
import pytest
import yaml

from cachewatch.exporter.webconfig import WebConfig, WebConfigError
from cachewatch.local_redis import TlsFiles, make_tls_files

T = "tls_server_config"
PASSWORDS = {"prometheus": "scrape-pw", "alice": "s3cret:with:colons"}


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def hashes() -> dict[str, str]:
    return {u: bcrypt.hashpw(p.encode(), bcrypt.gensalt(rounds=4)).decode() for u, p in PASSWORDS.items()}


def write(tmp_path: Path, config: dict[str, Any] | str) -> Path:
    path = tmp_path / "web.yml"
    path.write_text(config if isinstance(config, str) else yaml.safe_dump(config))
    return path


def tls_section(tls: TlsFiles, **extra: Any) -> dict[str, Any]:
    return {"cert_file": str(tls.server_cert), "key_file": str(tls.server_key), **extra}


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def handshake(server_ctx: ssl.SSLContext, tls: TlsFiles, client_cert: bool) -> tuple[Exception | None, bytes]:
    """TLS-accept one connection in a thread; return (server-side error, bytes the client received)."""
    client_ctx = ssl.create_default_context(cafile=str(tls.ca_cert))
    if client_cert:
        client_ctx.load_cert_chain(tls.client_cert, tls.client_key)
    listener = socket.create_server(("127.0.0.1", 0))
    outcome: list[Exception | None] = []

    def serve() -> None:
        conn, _ = listener.accept()
        conn.settimeout(10)
        try:
            with server_ctx.wrap_socket(conn, server_side=True) as tconn:
                tconn.sendall(b"ok")
            outcome.append(None)
        except OSError as exc:  # ssl.SSLError included
            outcome.append(exc)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    received = b""
    try:
        with socket.create_connection(listener.getsockname(), timeout=10) as raw, \
                client_ctx.wrap_socket(raw, server_hostname="127.0.0.1") as conn:
            received = conn.recv(2)
    except OSError:  # the client sees a refused handshake as an alert or a reset
        pass
    thread.join(10)
    listener.close()
    return outcome[0], received


def test_valid_config_with_tls_and_two_users(tmp_path: Path, tls: TlsFiles, hashes: dict[str, str]) -> None:
    path = write(tmp_path, {
        "tls_server_config": tls_section(tls, min_version="TLS13", cipher_suites=["TLS_AES_128_GCM_SHA256"]),
        "basic_auth_users": hashes,
        "http_server_config": {"headers": {"X-Frame-Options": "deny", "Strict-Transport-Security": ""}},
    })
    cfg = WebConfig.load(path)
    assert cfg == WebConfig.load(path)  # the per-instance auth cache is not part of equality
    assert cfg.tls is not None and cfg.tls.min_version is ssl.TLSVersion.TLSv1_3
    assert set(cfg.users) == {"prometheus", "alice"} and cfg.auth_required
    assert cfg.headers == {"X-Frame-Options": "deny"}
    assert all(h not in repr(cfg) for h in hashes.values())
    first, second = cfg.ssl_context(), cfg.ssl_context()
    assert isinstance(first, ssl.SSLContext) and first is not second


def test_empty_config_and_empty_file(tmp_path: Path) -> None:
    for cfg in (WebConfig.empty(), WebConfig.load(write(tmp_path, ""))):
        assert cfg.tls is None and cfg.ssl_context() is None and not cfg.auth_required
        assert cfg.check_basic_auth(None) and cfg.check_basic_auth("garbage")


def test_blank_sections_and_values_mean_the_exporter_toolkit_defaults(tmp_path: Path, tls: TlsFiles) -> None:
    blank = {"tls_server_config": {}, "basic_auth_users": None, "http_server_config": {"headers": None}}
    assert WebConfig.load(write(tmp_path, blank)) == WebConfig.empty()
    section = tls_section(tls, client_auth_type="", min_version=None, max_version="", http2=None)
    section.pop("http2")
    cfg = WebConfig.load(write(tmp_path, {T: section, "http_server_config": {"http2": True}}))
    assert cfg.tls is not None and cfg.ssl_context().verify_mode == ssl.CERT_NONE
    assert (cfg.tls.min_version, cfg.tls.max_version) == (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3)
    ignored = dict.fromkeys(("cipher_suites", "prefer_server_cipher_suites", "curve_preferences"), "anything")
    assert WebConfig.load(write(tmp_path, {T: tls_section(tls, **ignored)})).tls == cfg.tls


def test_relative_paths_resolve_against_config_directory(tmp_path: Path, tls: TlsFiles) -> None:
    config = {"tls_server_config": {"cert_file": tls.server_cert.name, "key_file": tls.server_key.name}}
    cfg = WebConfig.load(write(tls.directory, config))
    assert cfg.tls is not None and cfg.tls.cert_file == tls.server_cert


def test_ssl_context_rereads_files_each_call(tmp_path: Path, tls: TlsFiles) -> None:
    for name in ("server.crt", "server.key"):
        (tmp_path / name).write_bytes((tls.directory / name).read_bytes())
    cfg = WebConfig.load(write(tmp_path, {T: {"cert_file": "server.crt", "key_file": "server.key"}}))
    assert cfg.ssl_context() is not None
    (tmp_path / "server.key").write_bytes(tls.client_key.read_bytes())  # a botched rotation
    with pytest.raises(WebConfigError, match="cert_file/key_file: cannot load"):
        cfg.ssl_context()


def test_tls_handshake(tmp_path: Path, tls: TlsFiles) -> None:
    ctx = WebConfig.load(write(tmp_path, {"tls_server_config": tls_section(tls)})).ssl_context()
    assert ctx is not None
    assert handshake(ctx, tls, client_cert=False) == (None, b"ok")


def test_mtls_requires_client_certificate(tmp_path: Path, tls: TlsFiles) -> None:
    section = tls_section(tls, client_auth_type="RequireAndVerifyClientCert", client_ca_file=str(tls.ca_cert))
    ctx = WebConfig.load(write(tmp_path, {"tls_server_config": section})).ssl_context()
    assert ctx is not None and ctx.verify_mode == ssl.CERT_REQUIRED
    error, received = handshake(ctx, tls, client_cert=False)
    assert isinstance(error, ssl.SSLError) and received != b"ok"
    assert handshake(ctx, tls, client_cert=True) == (None, b"ok")


def test_verify_client_cert_if_given(tmp_path: Path, tls: TlsFiles) -> None:
    section = tls_section(tls, client_auth_type="VerifyClientCertIfGiven", client_ca_file=str(tls.ca_cert))
    ctx = WebConfig.load(write(tmp_path, {"tls_server_config": section})).ssl_context()
    assert ctx is not None and ctx.verify_mode == ssl.CERT_OPTIONAL
    assert handshake(ctx, tls, client_cert=False) == (None, b"ok")
    assert handshake(ctx, tls, client_cert=True) == (None, b"ok")


@pytest.fixture
def auth_cfg(tmp_path: Path, hashes: dict[str, str]) -> WebConfig:
    return WebConfig.load(write(tmp_path, {"basic_auth_users": hashes}))


def test_basic_auth(auth_cfg: WebConfig) -> None:
    assert auth_cfg.check_basic_auth(basic("prometheus", "scrape-pw"))
    assert auth_cfg.check_basic_auth(basic("alice", "s3cret:with:colons"))
    assert auth_cfg.check_basic_auth("basic " + basic("alice", "s3cret:with:colons").split()[1])
    assert not auth_cfg.check_basic_auth(basic("prometheus", "wrong"))
    assert not auth_cfg.check_basic_auth(basic("alice", "scrape-pw"))  # another user's password
    assert not auth_cfg.check_basic_auth(basic("mallory", "scrape-pw"))
    assert WebConfig.WWW_AUTHENTICATE == 'Basic realm="cachewatch"'


@pytest.mark.parametrize("header", [
    None, "", "Basic", "Basic ", "Basic !!!not-base64!!!", "Basic " + base64.b64encode(b"nocolon").decode(),
    "Bearer " + base64.b64encode(b"prometheus:scrape-pw").decode(),
    "Basic " + base64.b64encode(b"\xff\xfe:scrape-pw").decode(), "Basic é",
    "Basic cHJvbWV0aGV1czpzY3JhcGUtcHc",  # missing padding
])
def test_malformed_authorization_is_false(auth_cfg: WebConfig, header: str | None) -> None:
    assert auth_cfg.check_basic_auth(header) is False


def test_passwords_longer_than_72_bytes_match_like_exporter_toolkit(tmp_path: Path) -> None:
    long_pw = "x" * 80
    hashed = bcrypt.hashpw(long_pw[:72].encode(), bcrypt.gensalt(rounds=4)).decode()
    cfg = WebConfig.load(write(tmp_path, {"basic_auth_users": {"u": hashed}}))
    assert cfg.check_basic_auth(basic("u", long_pw))


def test_cache_spares_bcrypt(auth_cfg: WebConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[bytes] = []
    real = bcrypt.checkpw

    def spy(password: bytes, hashed: bytes) -> bool:
        calls.append(password)
        return real(password, hashed)

    monkeypatch.setattr(bcrypt, "checkpw", spy)
    for _ in range(3):
        assert auth_cfg.check_basic_auth(basic("prometheus", "scrape-pw"))
    assert len(calls) == 1
    for _ in range(3):
        assert not auth_cfg.check_basic_auth(basic("prometheus", "wrong"))
    assert len(calls) == 2
    assert not auth_cfg.check_basic_auth(basic("mallory", "x"))  # unknown users pay bcrypt too (timing)
    assert len(calls) == 3
    assert b"scrape-pw" not in repr(auth_cfg._cache).encode()


def test_cache_is_bounded(auth_cfg: WebConfig) -> None:
    for i in range(300):
        auth_cfg.check_basic_auth(basic("prometheus", f"guess-{i}"))
    assert len(auth_cfg._cache) <= 256
    assert auth_cfg.check_basic_auth(basic("prometheus", "scrape-pw"))


Config = dict[str, Any] | str
# name -> (config built from the TLS files and the hashes, fragments the error message must contain)
BAD: dict[str, tuple[Callable[[TlsFiles, dict[str, str]], Config], list[str]]] = {
    "unknown top key": (lambda t, h: {"basic_auth_users": h, "tls_config": {}},
                        ["tls_config", "unknown key", "basic_auth_users"]),
    "unknown tls key": (lambda t, h: {T: tls_section(t, certfile="x")}, [f"{T}.certfile", "cert_file"]),
    "unknown http key": (lambda t, h: {"http_server_config": {"header": {}}}, ["http_server_config.header"]),
    "missing key_file": (lambda t, h: {T: {"cert_file": str(t.server_cert)}}, [f"{T}.key_file", "required"]),
    "missing cert file": (lambda t, h: {T: tls_section(t, cert_file="nope.crt")},
                          [f"{T}.cert_file", "nope.crt"]),
    "bad client_auth_type": (lambda t, h: {T: tls_section(t, client_auth_type="Sometimes")},
                             ["client_auth_type", "Sometimes", "NoClientCert", "VerifyClientCertIfGiven",
                              "RequireAndVerifyClientCert"]),
    "RequireAnyClientCert": (lambda t, h: {T: tls_section(t, client_auth_type="RequireAnyClientCert")},
                             ["client_auth_type", "without verifying", "RequireAndVerifyClientCert"]),
    "RequestClientCert": (lambda t, h: {T: tls_section(t, client_auth_type="RequestClientCert")},
                          ["client_auth_type", "without verifying", "NoClientCert"]),
    "verify without CA": (lambda t, h: {T: tls_section(t, client_auth_type="RequireAndVerifyClientCert")},
                          ["client_ca_file", "required"]),
    "CA without verify": (lambda t, h: {T: tls_section(t, client_ca_file=str(t.ca_cert))},
                          ["client_ca_file", "NoClientCert"]),
    "bad min_version": (lambda t, h: {T: tls_section(t, min_version="TLS1.2")},
                        ["min_version", "TLS12, TLS13"]),
    "min above max": (lambda t, h: {T: tls_section(t, min_version="TLS13", max_version="TLS12")},
                      ["min_version", "max_version"]),
    "key mismatch": (lambda t, h: {T: tls_section(t, key_file=str(t.client_key))},
                     ["key_file", "cannot load"]),
    "inline cert": (lambda t, h: {T: {"cert": "-----BEGIN CERTIFICATE-----"}}, [f"{T}.cert", "cert_file"]),
    "not bcrypt": (lambda t, h: {"basic_auth_users": {**h, "bob": "$1$saltsalt$2vnaRpHa6Jxjz5n83ok8Z0"}},
                   ["basic_auth_users.bob", "bcrypt"]),
    "bcrypt-like": (lambda t, h: {"basic_auth_users": {**h, "bob": "$2x$" + h["alice"][4:]}},
                    ["basic_auth_users.bob", "$2b$"]),
    "hash in user name": (lambda t, h: {"basic_auth_users": {h["alice"] + ":": h["alice"]}}, ["<redacted>"]),
    "reserved header": (lambda t, h: {"http_server_config": {"headers": {"content-type": "text/html"}}},
                        ["http_server_config.headers.content-type", "reserved"]),
    "header injection": (lambda t, h: {"http_server_config": {"headers": {"X-A": "a\r\nSet-Cookie: x"}}},
                         ["X-A", "control characters"]),
    "rate limit": (lambda t, h: {"rate_limit": {"interval": "1s"}}, ["rate_limit", "reverse proxy"]),
    "client SANs": (lambda t, h: {T: tls_section(t, client_allowed_sans=["a"])},
                    [f"{T}.client_allowed_sans", "dedicated CA"]),
    "tls not a mapping": (lambda t, h: {T: [str(t.server_cert)]}, [T, "mapping"]),
    "user not a string": (lambda t, h: {"basic_auth_users": {**h, 7: h["alice"]}}, ["basic_auth_users.7"]),
    "hash as a key": (lambda t, h: {T: {**tls_section(t), h["alice"]: "x"}}, [f"{T}.<redacted>", "unknown key"]),
    "bad yaml": (lambda t, h: f"basic_auth_users:\n  alice: {h['alice']}\n   bob: [\n",
                 ["not valid YAML", "line 3"]),
    "not a mapping": (lambda t, h: "- a\n- b\n", ["top level", "mapping"]),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_config_errors_name_file_field_and_never_a_hash(
        case: str, tmp_path: Path, tls: TlsFiles, hashes: dict[str, str]) -> None:
    build, fragments = BAD[case]
    config = build(tls, hashes)
    if isinstance(config, dict) and "basic_auth_users" not in config:
        config["basic_auth_users"] = hashes  # every bad file also holds real hashes that must not leak
    path = write(tmp_path, config)
    with pytest.raises(WebConfigError) as info:
        WebConfig.load(path)
    message = str(info.value)
    assert isinstance(info.value, ValueError)
    assert all(line.startswith(f"{path}: ") for line in message.splitlines())
    for fragment in fragments:
        assert fragment in message
    for hashed in hashes.values():
        assert hashed not in message and hashed[7:29] not in message  # not even the salt


def test_every_problem_is_one_line(tmp_path: Path, tls: TlsFiles, hashes: dict[str, str]) -> None:
    config = {T: tls_section(tls, min_version="TLS1.2", certfile="x"), "rate_limit": {},
              "basic_auth_users": {**hashes, "bob": "plain"}, "http_server_config": {"headers": {"Date": "x"}}}
    with pytest.raises(WebConfigError) as info:
        WebConfig.load(write(tmp_path, config))
    lines = str(info.value).splitlines()
    assert [line.split(": ")[1] for line in lines] == [
        f"{T}.min_version", f"{T}.certfile", "http_server_config.headers.Date.[key]", "basic_auth_users.bob",
        "rate_limit"]


def test_key_material_is_never_echoed(tmp_path: Path, tls: TlsFiles) -> None:
    """A private key pasted inline, under a mistyped name, or as a file name never shows in the error."""
    pem = tls.server_key.read_text()
    body = pem.splitlines()[1]
    for section in ({"key": pem}, {"keyfile": pem}, {**tls_section(tls), "key_file": pem}):
        with pytest.raises(WebConfigError) as info:
            WebConfig.load(write(tmp_path, {T: section}))
        assert body not in str(info.value) and "PRIVATE KEY" not in str(info.value)


def test_encrypted_key_is_an_error_not_a_terminal_prompt(tmp_path: Path, tls: TlsFiles) -> None:
    encrypted = tmp_path / "enc.key"
    subprocess.run(["openssl", "pkey", "-in", str(tls.server_key), "-aes128", "-passout", "pass:pw",
                    "-out", str(encrypted)], check=True, capture_output=True, timeout=60)
    with pytest.raises(WebConfigError, match="encrypted private keys are not supported"):
        WebConfig.load(write(tmp_path, {T: tls_section(tls, key_file=str(encrypted))}))


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(WebConfigError, match="cannot read"):
        WebConfig.load(tmp_path / "absent.yml")
