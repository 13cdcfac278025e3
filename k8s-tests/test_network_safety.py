"""scripts/local-k8s keeps every packet for the pod and Service ranges on this machine.

Checked from the host (the `unreachable` routes: `ip route get` refuses, connect() fails at once)
and from a pod (a connection to an unused address of either range is refused by the host, and
one to an address behind another local interface is dropped by the bridge guard instead of
being forwarded: the sink is a network namespace this test makes, so even a broken guard sends
nothing off the machine). Only for the local cluster: kind's ranges and host are kind's.
"""

from __future__ import annotations

import errno
import ipaddress
import json
import socket
import subprocess
import textwrap
import time
import uuid
from collections.abc import Iterator

import pytest
from conftest import LOADER, kubectl, kubectl_json, wait_for

pytestmark = pytest.mark.skipif(LOADER != "local-k8s",
                                reason="checks the host side of scripts/local-k8s")

POD_RANGE = ipaddress.ip_network("10.244.0.0/16")
BRIDGE_NET = ipaddress.ip_network("10.244.0.0/24")
SERVICE_RANGE = ipaddress.ip_network("10.96.0.0/16")
SINK_NET = "172.31.255.0/30"  # a private range, behind a veth into a namespace of our own
SINK_HOST, SINK_PEER = "172.31.255.1", "172.31.255.2"


def unused_addresses() -> dict[str, str]:
    """An address of each range that nothing uses: off the bridge's /24, no ClusterIP."""
    used = {s["spec"].get("clusterIP") for s in kubectl_json("get", "services", "-A")["items"]}
    service = next(str(a) for a in SERVICE_RANGE.hosts() if int(a) % 251 == 7 and str(a) not in used)
    pod = next(str(a) for a in POD_RANGE.hosts() if a not in BRIDGE_NET and int(a) % 253 == 11)
    return {"pod": pod, "service": service}


def ip_route_get(address: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", "route", "get", address], capture_output=True, text=True)


def assert_unreachable_here(address: str) -> None:
    route = ip_route_get(address)
    said = route.stdout + route.stderr
    assert route.returncode != 0 or said.startswith("unreachable"), f"{address} is routed: {said}"
    assert "unreachable" in said or "No route to host" in said, said


def test_host_refuses_unused_pod_and_service_addresses() -> None:
    for kind, address in unused_addresses().items():
        assert_unreachable_here(address)  # before any packet is tried
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.settimeout(5)
            started = time.monotonic()
            with pytest.raises(OSError) as refused:
                s.connect((address, 80))
            took = time.monotonic() - started
        assert refused.value.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH), (kind, refused.value)
        assert took < 0.5, f"{kind} {address}: connect() took {took:.2f}s, not refused locally"
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u, pytest.raises(OSError) as udp:
            u.sendto(b"x", (address, 53))
        assert udp.value.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH), (kind, udp.value)


@pytest.fixture
def sink() -> Iterator[str]:
    """A namespace behind a veth (not the bridge) holding SINK_PEER, listening on TCP 80."""
    # what a killed earlier run of this test left: its namespace and its veth
    for old in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split():
        if old.startswith("rosey-sink-"):
            subprocess.run(["ip", "netns", "del", old], check=True)
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    for line in links.splitlines():
        name = line.split(": ")[1].split("@")[0]
        if name.startswith("rsink"):
            subprocess.run(["ip", "link", "del", name], check=True)
    ns, host_if = f"rosey-sink-{uuid.uuid4().hex[:4]}", f"rsink{uuid.uuid4().hex[:4]}"
    sh = ["ip", "netns", "exec", ns]
    subprocess.run(["ip", "netns", "add", ns], check=True)
    listener = None
    try:
        subprocess.run(["ip", "link", "add", host_if, "type", "veth", "peer", "name", "sink0",
                        "netns", ns], check=True)
        subprocess.run(["ip", "addr", "add", f"{SINK_HOST}/30", "dev", host_if], check=True)
        subprocess.run(["ip", "link", "set", host_if, "up"], check=True)
        subprocess.run([*sh, "ip", "addr", "add", f"{SINK_PEER}/30", "dev", "sink0"], check=True)
        subprocess.run([*sh, "ip", "link", "set", "sink0", "up"], check=True)
        subprocess.run([*sh, "ip", "link", "set", "lo", "up"], check=True)
        subprocess.run([*sh, "ip", "route", "add", "default", "via", SINK_HOST], check=True)
        route = ip_route_get(SINK_PEER).stdout
        assert f"dev {host_if}" in route, route  # the sink really is local, or nothing is tried
        listener = subprocess.Popen(
            [*sh, "python3", "-c", textwrap.dedent("""
                import socket, sys
                s = socket.socket(); s.bind(("0.0.0.0", 80)); s.listen(8)
                print("listening", flush=True)
                while True:
                    c, peer = s.accept(); print("accepted", peer[0], flush=True); c.close()
            """)], stdout=subprocess.PIPE, text=True)
        assert listener.stdout is not None and listener.stdout.readline().strip() == "listening"
        yield ns
    finally:
        if listener is not None:
            listener.kill()
            out, _ = listener.communicate(timeout=10)
            assert "accepted" not in (out or ""), f"a pod reached the sink namespace: {out}"
        subprocess.run(["ip", "link", "del", host_if], capture_output=True)
        subprocess.run(["ip", "netns", "del", ns], check=True)


PROBE = """
import errno, json, socket, sys, time
out = {}
for name, addr in json.loads(sys.argv[1]).items():
    s = socket.socket(); s.settimeout(4); t = time.monotonic()
    try:
        s.connect((addr, 80)); out[name] = ["connected", 0]
    except OSError as e:
        out[name] = [errno.errorcode.get(e.errno, "timeout"), round(time.monotonic() - t, 2)]
    s.close()
print(json.dumps(out), flush=True)
"""


def test_pod_cannot_reach_outside_the_bridge(images: dict[str, str], namespace: str, sink: str) -> None:
    targets = {**unused_addresses(), "other-interface": SINK_PEER}
    for kind in ("pod", "service"):
        assert_unreachable_here(targets[kind])
    pod = {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "probe"},
        "spec": {"restartPolicy": "Never", "enableServiceLinks": False,
                 "containers": [{"name": "probe", "image": images["dbservice"],
                                 "imagePullPolicy": "Never",
                                 "command": ["python3", "-c", PROBE, json.dumps(targets)]}]},
    }
    kubectl("apply", "-f", "-", namespace=namespace, stdin=json.dumps(pod))

    def finished() -> bool:
        phase = kubectl_json("get", "pod", "probe", namespace=namespace)["status"].get("phase")
        return phase in ("Succeeded", "Failed")

    wait_for(finished, timeout=120, what="probe pod finished")
    result = json.loads(kubectl("logs", "probe", namespace=namespace).stdout.strip().splitlines()[-1])
    # refused by the host's unreachable routes (ICMP from 10.244.0.1), at once
    for kind in ("pod", "service"):
        code, took = result[kind]
        assert code in ("EHOSTUNREACH", "ENETUNREACH"), (kind, result)
        assert took < 1.0, (kind, result)
    # dropped by the guard: nothing answers, and the sink saw nothing (checked by the fixture)
    assert result["other-interface"][0] in ("timeout", "EHOSTUNREACH"), result
