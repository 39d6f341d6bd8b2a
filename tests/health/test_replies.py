"""The pure reply parsers: RESP2 and RESP3 shapes, error replies as refusals, and what is never a refusal."""

from __future__ import annotations

import pytest
from redis.exceptions import NoPermissionError, ResponseError

from cachewatch.checks import CONFIG_KEYS
from cachewatch.health.replies import (
    COMMANDS,
    FAMILIES,
    build_snapshot,
    parse_config,
    parse_fields,
    parse_latency_latest,
    parse_slowlog,
)

INFO = (b"# Server\r\nredis_version:7.0.15\r\nexecutable:/usr/bin/redis-server\r\n\r\n# Replication\r\n"
        b"role:master\r\nslave0:ip=10.0.0.2,port=6379,state=online,offset=10,lag=0\r\ncluster_enabled:0\r\n"
        b"# Errorstats\r\nerrorstat_OOM:count=3\r\n")
CONFIG = [b"maxmemory", b"0", b"save", b"", b"bind", b"127.0.0.1 -::1"]
SLOWLOG = [[7, 1_700_000_000, 200_123, [b"DEBUG", b"SLEEP", b"0.2"], b"127.0.0.1:5000", b""],
           [6, 1_699_999_999, 12_000, [b"\xff\xfebinary"], b"127.0.0.1:5000", b"app"]]
LATENCY = [[b"command", 1_700_000_000, 200, 250], [b"fork", 1_699_000_000, 5, 9, 100, 3]]  # newer servers add fields
ACL = [b"user default on #5e88 ~* &* +@all", b"user app on nopass ~app:* +get"]
CLUSTER_DISABLED = ResponseError("This instance has cluster support disabled")


def replies(**overrides: object) -> list[object]:
    base = {"info": INFO, "config": CONFIG, "acl": ACL, "slowlog": SLOWLOG, "latency": LATENCY,
            "cluster": CLUSTER_DISABLED}
    return [{**base, **overrides}[family] for family in FAMILIES]


def test_the_round_trip_asks_for_every_config_key_in_one_command() -> None:
    commands = dict(COMMANDS)
    assert commands["config"] == ("CONFIG", "GET", *CONFIG_KEYS)
    assert commands["info"] == ("INFO",) and commands["slowlog"] == ("SLOWLOG", "GET", "32")
    assert FAMILIES == ("info", "config", "acl", "slowlog", "latency", "cluster")


def test_info_is_one_flat_dict_of_every_field() -> None:
    info = parse_fields(INFO)
    assert info["redis_version"] == "7.0.15" and info["role"] == "master"
    assert info["executable"] == "/usr/bin/redis-server"  # only the first colon separates
    assert info["slave0"] == "ip=10.0.0.2,port=6379,state=online,offset=10,lag=0"
    assert info["errorstat_OOM"] == "count=3"
    assert not any(name.startswith("#") for name in info)


@pytest.mark.parametrize("reply", [CONFIG, {b"maxmemory": b"0", b"save": b"", b"bind": b"127.0.0.1 -::1"}],
                         ids=["resp2-list", "resp3-map"])
def test_config_get_in_either_protocol(reply: object) -> None:
    assert parse_config(reply) == {"maxmemory": "0", "save": "", "bind": "127.0.0.1 -::1"}


def test_slowlog_keeps_only_the_command_name_lower_case() -> None:
    assert parse_slowlog(SLOWLOG) == ((7, 1_700_000_000, 200_123, "debug"), (6, 1_699_999_999, 12_000,
                                                                              "\ufffd\ufffdbinary"))


def test_latency_latest_takes_the_first_four_fields() -> None:
    assert parse_latency_latest(LATENCY) == (("command", 1_700_000_000, 200, 250), ("fork", 1_699_000_000, 5, 9))


def test_a_full_snapshot() -> None:
    snap = build_snapshot(replies(), kind="store", taken=12.5)
    assert snap.info["role"] == "master" and snap.config["bind"] == "127.0.0.1 -::1"
    assert snap.acl_users == ("user default on #5e88 ~* &* +@all", "user app on nopass ~app:* +get")
    assert snap.slowlog[0][3] == "debug" and snap.latency_latest[0][0] == "command"
    assert snap.refused == frozenset() and snap.cluster_info == {}  # not in cluster mode: neither refused nor read
    assert (snap.kind, snap.taken) == ("store", 12.5)


def test_error_replies_are_refusals_by_family() -> None:
    denied = NoPermissionError("this user has no permissions to run the 'config|get' command")
    snap = build_snapshot(replies(config=denied, acl=ResponseError("unknown command 'ACL'"),
                                  latency=ResponseError("ERR LATENCY is disabled")))
    assert snap.refused == {"config", "acl", "latency"}
    assert snap.config == {} and snap.acl_users == () and snap.info["role"] == "master"


def test_cluster_info_is_read_in_cluster_mode_and_refused_only_there() -> None:
    clustered = INFO.replace(b"cluster_enabled:0", b"cluster_enabled:1")
    snap = build_snapshot(replies(info=clustered, cluster=b"cluster_state:fail\r\ncluster_slots_fail:3\r\n"))
    assert snap.cluster_info == {"cluster_state": "fail", "cluster_slots_fail": "3"}
    assert build_snapshot(replies(info=clustered, cluster=NoPermissionError("no"))).refused == {"cluster"}


def test_an_unreadable_reply_decides_nothing_for_its_family() -> None:
    snap = build_snapshot(replies(config=[b"odd"], slowlog=[[1]], latency=[[b"x", b"not-a-number", 1, 1]]))
    assert snap.refused == {"config", "slowlog", "latency"}


@pytest.mark.parametrize("info", [NoPermissionError("no permissions to run 'info'"), [b"not", b"info"], b""],
                         ids=["refused", "an-array", "empty"])
def test_info_refused_or_unreadable_refuses_everything(info: object) -> None:
    snap = build_snapshot(replies(info=info))
    assert snap.info == {} and snap.refused == set(FAMILIES)


def test_the_reply_count_must_match_the_commands() -> None:
    with pytest.raises(ValueError, match="expected 6 replies"):
        build_snapshot([INFO])
