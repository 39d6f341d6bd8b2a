"""The INFO and reply parsers take whatever a server sends and never raise."""

from __future__ import annotations

import time

from hypothesis import example, given, settings
from hypothesis import strategies as st

from cachewatch.exporter import replies
from cachewatch.exporter.collect import collect, command_stats, latency_snapshot
from cachewatch.exporter.info_parser import parse_info, to_number
from cachewatch.exporter.latency_refresh import FULL, LatencyPlanner
from cachewatch.redis_text import parse_pairs

# Text that looks like INFO: section headers, key:value lines with nested k=v lists, junk in between.
info_line = st.one_of(
    st.builds(lambda s: f"# {s}", st.sampled_from(["Server", "Keyspace", "Commandstats", "Latencystats",
                                                   "Errorstats", "Replication", "Cluster", "Junk"])),
    st.builds(lambda k, v: f"{k}:{v}", st.sampled_from(["db0", "cmdstat_get", "latency_percentiles_usec_get",
                                                        "errorstat_ERR", "slave0", "used_memory", "role",
                                                        "uptime_in_seconds", "master_link_status",
                                                        "cluster_enabled", "latest_fork_usec"]),
              st.text(alphabet="abcdefgpu0123456789.,=:-+eE infa\r", max_size=40)),
    st.text(max_size=60),
)
info_text = st.lists(info_line, max_size=40).map("\n".join)

# Anything hiredis can hand us: nested lists of str/int/errors.
reply = st.recursive(
    st.one_of(st.none(), st.integers(), st.text(max_size=30), st.floats(allow_nan=True),
              st.builds(Exception, st.text(max_size=20)), st.binary(max_size=10)),
    lambda children: st.lists(children, max_size=8),
    max_leaves=40,
)


@settings(max_examples=400, deadline=None)
@given(info_text)
def test_parse_info_never_raises(text: str) -> None:
    info = parse_info(text)
    assert isinstance(info.fields, dict)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_parse_pairs_and_numbers_never_raise(text: str) -> None:
    parse_pairs(text)
    to_number(text)


@settings(max_examples=300, deadline=None)
@given(reply, reply)
def test_reply_parsers_never_raise(a: object, b: object) -> None:
    replies.latency_latest(a)
    replies.latency_histogram(a)
    replies.slowlog(a, b)
    replies.config_pairs(a)
    replies.acl_log(a)
    replies.cluster_nodes(a)


@settings(max_examples=200, deadline=None)
@given(info_text, reply, reply, reply)
@example(text="", hist=None, latest=[["\x1e", 0, 0]], slow=None)  # a record separator in an event name
def test_collect_never_raises_and_renders_valid_lines(text: str, hist: object, latest: object, slow: object) -> None:
    info = parse_info(text)
    stats = command_stats(info)
    planner = LatencyPlanner(60.0)
    planner.store(hist, FULL, {}, 0.0, stats)
    planner.observe({cmd: stat[0] for cmd, stat in stats.items()}, {}, 0.0)
    out = collect(info, {"latency_latest": latest, "slowlog_len": slow, "slowlog_get": slow, "cluster_info": text},
                  {"databases": "2"}, time.time(), latency_snapshot(info), stats, planner.commands)
    # "\n" is the format's only line break: str.splitlines() would also split on \x1c-\x1e or \u2028 inside a
    # label value (legal there, and Prometheus reads it as part of the value)
    exposition = out.render()
    for line in exposition.removesuffix("\n").split("\n") if exposition else []:
        assert line.startswith("#") or line.startswith(("redis_", "process_")), line


def test_cluster_nodes_parses_real_lines() -> None:
    text = (
        "07c3 127.0.0.1:30004@31004,node-4 slave e7d1 0 1426238317239 4 connected\n"
        "e7d1 127.0.0.1:30001@31001 myself,master - 0 0 1 connected 0-5460 [5461->-abc]\n"
        "bad line\n"
        "292f 127.0.0.1:30002@31002 master,fail? - 1426238316232 0 2 disconnected 5461-10922 10923\n"
    )
    nodes = replies.cluster_nodes(text)
    assert [(n.node_id, n.port, n.is_primary, n.healthy, n.slots) for n in nodes] == [
        ("07c3", 30004, False, True, 0),
        ("e7d1", 30001, True, True, 5461),
        ("292f", 30002, True, False, 5463),
    ]
    assert nodes[0].master_id == "e7d1" and nodes[0].hostname == "node-4"
