"""Scale mode's ``global/alertmanager/cluster.yml``: the flags of each Alertmanager of the fleet's one cluster.

Every regional Prometheus sends every alert to all members (links.alertmanager_urls); the members gossip
notification logs and silences, so an alert both replicas of a region send, received by every member, is
notified once (the member at position 0 sends, the next takes over when it leaves). A member advertises an IP
address only (``--cluster.advertise-address`` takes no host name), so it is written only for IP peers. Each member
listens on the port its own peer address names (the others dial that port): the spec's ``listen_port`` is only the
default port of peers derived from links.alertmanager_urls.
"""

from __future__ import annotations

import ipaddress

from cachewatch.artifacts import File, Json
from cachewatch.spec import FleetSpec
from cachewatch.spec.scale import alertmanager_peers

PATH = "global/alertmanager/cluster.yml"
CONFIG = "../../alertmanager/alertmanager.yml"  # the fleet's one Alertmanager config, from global/alertmanager/


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def peer_args(spec: FleetSpec, peer: str, peers: list[str]) -> list[str]:
    host, port = peer.rsplit(":", 1)
    args = [f"--config.file={CONFIG}", "--storage.path=/var/lib/alertmanager",
            f"--cluster.listen-address=0.0.0.0:{port}"]
    if _is_ip(host):
        args.append(f"--cluster.advertise-address={peer}")
    args += [f"--cluster.peer={other}" for other in peers if other != peer]
    args.append(f"--web.external-url={spec.links.alertmanager_external_url}")
    return args


def document(spec: FleetSpec) -> Json:
    peers = alertmanager_peers(spec)
    return {"peers": [{"address": peer, "args": peer_args(spec, peer, peers)} for peer in peers]}


def files(spec: FleetSpec) -> list[File]:
    return [File(PATH, document(spec), comment=(
        "\nOne Alertmanager cluster for the fleet: run each peer with its args (prometheus-alertmanager on "
        "Debian).\nEvery regional Prometheus sends to all of them; they gossip, so each alert is notified once. "
        "Across regions,\na partition makes both sides notify (duplicates, never silence); a cold cluster waits "
        "--cluster.settle-timeout (1m)\nbefore its first notification.\n"))]
