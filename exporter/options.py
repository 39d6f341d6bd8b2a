"""Exporter settings: config file (YAML) < redis_exporter environment variables < command-line flags.

The config file is validated with pydantic so a mistake names its field path, the
value and what is allowed. Secrets in it are references (``password_file``,
``password_env``), never values.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError, model_validator

from cachewatch.logs import redact
from cachewatch.spec.series import SeriesReduction
from cachewatch.spec.types import Duration, Strict, format_errors, read_yaml


class TlsSettings(Strict):
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    server_name: str | None = None
    insecure_skip_verify: bool = False


class AuthModule(Strict):
    """A named credential profile, selected per scrape with ``auth_module=NAME``."""

    user: str | None = None
    password_file: str | None = None
    password_env: str | None = None
    tls: TlsSettings | None = None

    @model_validator(mode="after")
    def _one_password_source(self) -> AuthModule:
        if self.password_file and self.password_env:
            raise ValueError("give password_file or password_env, not both")
        return self


class KeySampling(Strict):
    """Opt-in background big/hot-key sampling (SCAN + MEMORY USAGE, OBJECT FREQ under LFU)."""

    enabled: bool = False
    interval: Duration = 300.0
    max_keys: int = Field(1000, gt=0, le=1_000_000)
    time_budget: Duration = 2.0
    top_n: int = Field(10, gt=0, le=100)
    raw_key_names: bool = False
    targets: list[str] = Field(default_factory=list, description="host:port globs; empty = the --redis-addr target")


class ExporterSettings(Strict):
    listen: str = ":9121"
    redis_addr: str = ""
    redis_user: str | None = None
    redis_password_env: str | None = None
    redis_password_file: str | None = Field(None, description="file holding the --redis-addr password")
    password_file: str | None = Field(None, description="redis_exporter JSON map of target URL → password")
    tls: TlsSettings = TlsSettings()
    allow_targets: list[str] = Field(default_factory=list)
    allow_any_target: bool = False
    disable_scrape_endpoint: bool = False
    auth_modules: dict[str, AuthModule] = Field(default_factory=dict)
    web_config: str | None = None
    telemetry_path: str = "/metrics"
    scrape_timeout: Duration = 10.0
    connect_timeout: Duration = 5.0
    config_refresh_interval: Duration = Field(
        60.0, description="Redis < 7 only: how long CONFIG GET is cached (7+: fetched on connect and after a "
        "CONFIG SET, seen in commandstats)")
    latency_refresh_interval: Duration = Field(
        60.0, description="the oldest the per-command latency data is served (LATENCY HISTOGRAM of commands that "
        "ran); at scrape intervals above half of it, at most one scrape old")
    exact_latency_percentiles: bool = Field(
        False, description="redis_latency_percentiles_usec from INFO latencystats (Redis' exact values, once per "
                           "latency_refresh_interval) instead of read off the histogram; costs Redis more per scrape")
    idle_target_ttl: Duration = 600.0
    max_reply_bytes: int = Field(16 << 20, gt=1024)
    max_targets: int = Field(10_000, gt=0)
    client_name: str = "cachewatch"
    set_client_name: bool = True
    acl_log: bool = True
    acl_log_max_users: int = Field(20, ge=0, le=1000)
    key_sampling: KeySampling = KeySampling()
    series: SeriesReduction = Field(SeriesReduction(), description="families dropped or aggregated at the source "
                                    "(docs/capacity.md); default: every family, per command")
    log_level: Literal["debug", "info", "warning", "error"] = "info"


class SettingsError(ValueError):
    """Bad settings; one line per problem: the field path, the value, what is allowed."""


def _echoable_fields(*models: type[BaseModel]) -> frozenset[str]:
    return frozenset(name for model in models for name in model.model_fields if "password" not in name)


# Field names whose (wrong) string values may be echoed in an error; values of unknown fields, of
# anything under auth_modules, and lists or mappings never are: they could be a misplaced secret.
ECHOABLE = _echoable_fields(TlsSettings, KeySampling, SeriesReduction, ExporterSettings) - {"auth_modules"}


def _shown(loc: tuple, value: object, kind: str) -> str:
    """How a wrong value appears in an error line: scalars as given, strings only under echoable fields."""
    if value is None or isinstance(value, bool | int | float):
        return repr(value)
    names = [str(p) for p in loc]
    if isinstance(value, str) and kind != "extra_forbidden" and names and names[-1] in ECHOABLE and (
            "auth_modules" not in names):
        return repr(redact(value)[:80])
    return "a value not shown"


def load_config_file(path: str) -> dict:
    try:
        data = read_yaml(Path(path)) or {}
    except ValueError as exc:
        raise SettingsError(str(exc)) from None
    if not isinstance(data, dict):
        raise SettingsError(f"{path}: the top level must be a mapping of settings")
    return data


# redis_exporter environment variable → (settings path, parser). Shared features only.
def _bool(text: str) -> bool:
    return text.strip().lower() in {"1", "t", "true", "yes", "on"}


_LOG_LEVELS = {"debug": "debug", "info": "info", "warn": "warning", "warning": "warning", "error": "error"}

ENVIRONMENT: dict[str, tuple[str, object]] = {
    "REDIS_ADDR": ("redis_addr", str),
    "REDIS_USER": ("redis_user", str),
    "REDIS_PASSWORD": ("redis_password_env", lambda _: "REDIS_PASSWORD"),
    "REDIS_PASSWORD_FILE": ("password_file", str),
    "REDIS_EXPORTER_WEB_LISTEN_ADDRESS": ("listen", str),
    "REDIS_EXPORTER_WEB_TELEMETRY_PATH": ("telemetry_path", str),
    "REDIS_EXPORTER_CONNECTION_TIMEOUT": ("connect_timeout", str),
    "REDIS_EXPORTER_TLS_CA_CERT_FILE": ("tls.ca_file", str),
    "REDIS_EXPORTER_TLS_CLIENT_CERT_FILE": ("tls.cert_file", str),
    "REDIS_EXPORTER_TLS_CLIENT_KEY_FILE": ("tls.key_file", str),
    "REDIS_EXPORTER_TLS_SERVER_NAME": ("tls.server_name", str),
    "REDIS_EXPORTER_SKIP_TLS_VERIFICATION": ("tls.insecure_skip_verify", _bool),
    "REDIS_EXPORTER_SET_CLIENT_NAME": ("set_client_name", _bool),
    "REDIS_EXPORTER_DISABLE_SCRAPE_ENDPOINT": ("disable_scrape_endpoint", _bool),
    "REDIS_EXPORTER_LOG_LEVEL": ("log_level", lambda v: _LOG_LEVELS.get(v.strip().lower(), v)),
    "REDIS_EXPORTER_DEBUG": ("log_level", lambda v: "debug" if _bool(v) else None),
}


def _set_path(data: dict, path: str, value: object) -> None:
    *parents, leaf = path.split(".")
    for key in parents:
        data = data.setdefault(key, {})
    data[leaf] = value


def build_settings(config_file: str | None, flags: dict[str, object], env: dict[str, str] | None = None
                   ) -> ExporterSettings:
    """Merge the three sources and validate once; raise SettingsError listing every problem."""
    env = os.environ if env is None else env
    data: dict = load_config_file(config_file) if config_file else {}
    for name, (path, parse) in ENVIRONMENT.items():
        if env.get(name):
            value = parse(env[name])  # type: ignore[operator]
            if value is not None:
                _set_path(data, path, value)
    for path, value in flags.items():
        if value is not None and value != [] and value is not False:
            _set_path(data, path, value)
    try:
        return ExporterSettings.model_validate(data)
    except ValidationError as exc:
        raise SettingsError(format_errors(exc, config_file or "settings", shown=_shown)) from None
