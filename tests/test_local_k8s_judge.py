"""`scripts/local-k8s down` judges what `up` made (found by hand: following `up`, then starting
the Docker engine, then `down`, it reported "NOT as found: mounts +/run/docker/netns/default"
and exited non-zero although everything the cluster made was gone).

`down` compares the machine with its snapshot from before `up` through `local-k8s judge
BEFORE NOW`; here the two snapshots are written by hand, so no cluster and no root are needed.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FILES = ("routes", "links", "iptables", "ip6tables", "nft-tables", "mounts", "netns", "sysctls",
         "hostdirs", "cgroups")
PRISTINE = {"mounts": ["/", "/proc", "/run"], "links": ["eth0", "lo"],
            "routes": ["default via 192.0.2.1 dev eth0"],
            "iptables": ["*filter", ":INPUT ACCEPT", "COMMIT"],
            "sysctls": ["net.ipv4.ip_forward=0"]}


def _snapshot(path: Path, extra: dict[str, list[str]]) -> Path:
    path.mkdir()
    for name in FILES:
        lines = sorted(PRISTINE.get(name, []) + extra.get(name, []))
        (path / name).write_text("".join(f"{line}\n" for line in lines))
    return path


def _judge(tmp_path: Path, now: dict[str, list[str]]) -> subprocess.CompletedProcess[str]:
    before = _snapshot(tmp_path / "before", {})
    after = _snapshot(tmp_path / "now", now)
    return subprocess.run(["bash", str(ROOT / "scripts" / "local-k8s"), "judge", str(before),
                           str(after)], capture_output=True, text=True, timeout=60)


def test_what_the_docker_engine_made_since_up_is_information_not_a_failure(tmp_path) -> None:
    result = _judge(tmp_path, {"mounts": ["/run/docker/netns/default"], "links": ["docker0"],
                               "iptables": ["-N DOCKER"]})
    assert result.returncode == 0, result.stderr
    assert "NOT as found" not in result.stderr
    assert "changed since up, not by the cluster (left alone): mounts" in result.stderr
    assert "+/run/docker/netns/default" in result.stderr
    assert "(left alone): links" in result.stderr and "(left alone): iptables" in result.stderr


def test_what_up_made_and_down_left_is_a_failure(tmp_path) -> None:
    result = _judge(tmp_path, {
        "mounts": ["/run/rosey-local-k8s/netns/cni-1234", "/run/docker/netns/default"],
        "links": ["rosey-k8s0", "veth0a1b2c"],
        "routes": ["unreachable 10.244.0.0/16 proto 211"],
        "iptables": ["-N KUBE-SERVICES"],
        "sysctls": ["net.ipv4.ip_forward=1"]})
    assert result.returncode == 1
    for what in ("mounts", "links", "routes", "iptables", "sysctls"):
        assert f"NOT as found: {what}" in result.stderr, result.stderr
    assert "+/run/rosey-local-k8s/netns/cni-1234" in result.stderr
    assert "(left alone): mounts" in result.stderr  # Docker's, named apart


def test_the_same_machine_is_as_found(tmp_path) -> None:
    result = _judge(tmp_path, {})
    assert result.returncode == 0 and result.stderr == ""
