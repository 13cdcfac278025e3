#!/usr/bin/env python3
"""The two cluster add-ons scripts/local-k8s has no package for, run on the host (stdlib only).

DNS: every second, list Services and Endpoints and write a hosts file for dnsmasq (which answers
pods on the bridge address), then SIGHUP dnsmasq when it changed:
  <svc>.<ns>.svc.<domain>               ClusterIP, or the endpoint addresses of a headless Service
                                        (not-ready ones too when publishNotReadyAddresses is set)
  <hostname>.<svc>.<ns>.svc.<domain>    an endpoint with a hostname (StatefulSet pods)

Volumes: a provisioner for the StorageClass `rosey-local` (provisioner rosey.local/hostdir).
A pending claim of that class gets a `local` PersistentVolume on a fresh directory under the
volumes root, pre-bound to the claim (local volumes honour fsGroup, hostPath volumes do not).
A Released volume of ours is deleted with its directory (reclaimPolicy Delete).

Usage: agent.py KUBECONFIG_DIR HOSTS_FILE DNSMASQ_PIDFILE VOLUMES_DIR NODE_NAME
(KUBECONFIG_DIR holds server, ca.crt, admin.crt, admin.key)
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import ssl
import sys
import time
from pathlib import Path
from typing import Any

PROVISIONER = "rosey.local/hostdir"
STORAGE_CLASS = "rosey-local"
DOMAIN = "cluster.local"


class Api:
    def __init__(self, pki: Path) -> None:
        server = (pki / "server").read_text().strip()  # https://host:port
        self.host, port = server.removeprefix("https://").rsplit(":", 1)
        self.port = int(port)
        self.ctx = ssl.create_default_context(cafile=str(pki / "ca.crt"))
        self.ctx.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        conn = http.client.HTTPSConnection(self.host, self.port, context=self.ctx, timeout=10)
        try:
            data = None if body is None else json.dumps(body)
            headers = {"Content-Type": "application/json", "Accept": "application/json"}
            conn.request(method, path, body=data, headers=headers)
            resp = conn.getresponse()
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else None
        finally:
            conn.close()

    def items(self, path: str) -> list[dict[str, Any]]:
        status, body = self.call("GET", path)
        if status != 200:
            raise RuntimeError(f"GET {path}: {status} {body}")
        return list(body.get("items") or [])


def hosts_lines(services: list[dict[str, Any]], endpoints: list[dict[str, Any]]) -> list[str]:
    eps = {(e["metadata"]["namespace"], e["metadata"]["name"]): e for e in endpoints}
    lines: list[str] = []
    for svc in services:
        ns, name = svc["metadata"]["namespace"], svc["metadata"]["name"]
        spec = svc.get("spec") or {}
        fqdn = f"{name}.{ns}.svc.{DOMAIN}"
        cluster_ip = spec.get("clusterIP") or ""
        headless = cluster_ip in ("", "None")
        if not headless:
            lines.append(f"{cluster_ip} {fqdn}")
        ep = eps.get((ns, name))
        if ep is None:
            continue
        for subset in ep.get("subsets") or []:
            addresses = list(subset.get("addresses") or [])
            if spec.get("publishNotReadyAddresses"):
                addresses += subset.get("notReadyAddresses") or []
            for addr in addresses:
                ip = addr.get("ip")
                if not ip:
                    continue
                if headless:
                    lines.append(f"{ip} {fqdn}")
                if addr.get("hostname"):
                    lines.append(f"{ip} {addr['hostname']}.{fqdn}")
    return sorted(set(lines))


def sync_dns(api: Api, hosts: Path, dnsmasq_pidfile: Path, last: list[str]) -> list[str]:
    lines = hosts_lines(api.items("/api/v1/services"), api.items("/api/v1/endpoints"))
    if lines != last:
        tmp = hosts.with_suffix(".tmp")
        tmp.write_text("".join(f"{line}\n" for line in lines))
        tmp.chmod(0o644)
        tmp.replace(hosts)
        try:
            os.kill(int(dnsmasq_pidfile.read_text().strip()), signal.SIGHUP)
        except (OSError, ValueError) as exc:
            print(f"agent: cannot signal dnsmasq: {exc}", flush=True)
            return last
    return lines


def provision(api: Api, volumes: Path, node: str) -> None:
    for pvc in api.items("/api/v1/persistentvolumeclaims"):
        meta, spec = pvc["metadata"], pvc.get("spec") or {}
        annotations = meta.get("annotations") or {}
        if (pvc.get("status") or {}).get("phase") != "Pending" or spec.get("volumeName"):
            continue
        wanted = annotations.get("volume.beta.kubernetes.io/storage-provisioner") or \
            annotations.get("volume.kubernetes.io/storage-provisioner")
        if wanted != PROVISIONER:
            continue
        name = f"pvc-{meta['uid']}"
        path = volumes / name
        path.mkdir(parents=True, exist_ok=True)
        size = ((spec.get("resources") or {}).get("requests") or {}).get("storage", "1Gi")
        pv = {
            "apiVersion": "v1", "kind": "PersistentVolume",
            "metadata": {"name": name, "annotations": {"pv.kubernetes.io/provisioned-by": PROVISIONER},
                         "labels": {"rosey.local/volume": "true"}},
            "spec": {
                "capacity": {"storage": size},
                "accessModes": spec.get("accessModes") or ["ReadWriteOnce"],
                "persistentVolumeReclaimPolicy": "Delete",
                "storageClassName": STORAGE_CLASS,
                "volumeMode": spec.get("volumeMode") or "Filesystem",
                "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                             "namespace": meta["namespace"], "name": meta["name"], "uid": meta["uid"]},
                "local": {"path": str(path)},
                "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                    {"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}]}]}},
            },
        }
        status, body = api.call("POST", "/api/v1/persistentvolumes", pv)
        if status == 201:
            print(f"agent: provisioned {name} ({size}) for {meta['namespace']}/{meta['name']}", flush=True)
        elif status != 409:
            print(f"agent: creating {name} failed: {status} {body}", flush=True)
    for pv in api.items("/api/v1/persistentvolumes"):
        meta = pv["metadata"]
        if (meta.get("annotations") or {}).get("pv.kubernetes.io/provisioned-by") != PROVISIONER:
            continue
        if (pv.get("status") or {}).get("phase") not in ("Released", "Failed"):
            continue
        path = Path(((pv.get("spec") or {}).get("local") or {}).get("path", ""))
        if path.parent == volumes:
            shutil.rmtree(path, ignore_errors=True)
        status, _ = api.call("DELETE", f"/api/v1/persistentvolumes/{meta['name']}")
        print(f"agent: deleted released {meta['name']} ({status})", flush=True)


def main() -> None:
    pki, hosts, dnsmasq_pid, volumes, node = (Path(a) for a in sys.argv[1:6])
    api = Api(pki)
    volumes.mkdir(parents=True, exist_ok=True)
    last: list[str] = ["<never synced>"]
    stop = False

    def on_term(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    print("agent: started", flush=True)
    while not stop:
        try:
            last = sync_dns(api, hosts, dnsmasq_pid, last)
            provision(api, volumes, str(node))
        except (OSError, RuntimeError, http.client.HTTPException, ValueError) as exc:
            print(f"agent: {exc!r}", flush=True)
        time.sleep(1)


if __name__ == "__main__":
    main()
