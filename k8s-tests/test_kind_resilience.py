"""Rosey on a real cluster: pods deleted mid-stream, every acknowledged event applied exactly once.

helm installs the chart (3 NATS servers, the stream with 3 replicas), a Job publishes N chat
lines with Nats-Msg-Id headers; while it runs the DatabaseService pod, a NATS pod and the bot
pod are deleted in turn. After everything has recovered, a query Job asks the DatabaseService:
total_chat_lines must be exactly N, the stream must hold N messages, and the PVCs must be the
same objects as before.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import helm_python as helm
from conftest import CHART, kubectl, kubectl_json

N_EVENTS = 3000
RELEASE = "rosey"
PODS_DIR = Path(__file__).parent / "pods"


def wait_for(check, *, timeout: float, what: str, interval: float = 2.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"not within {timeout}s: {what}"
        time.sleep(interval)


def job(name: str, script: str, *, image: str, env: dict[str, str]) -> dict[str, Any]:
    """A Job running pods/<script> in the dbservice image, labelled so NATS lets it in."""
    return {
        "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
        "spec": {"backoffLimit": 0, "template": {
            "metadata": {"labels": {"app.kubernetes.io/name": "rosey",
                                    "app.kubernetes.io/instance": RELEASE,
                                    "app.kubernetes.io/component": "k8s-test"}},
            "spec": {
                "restartPolicy": "Never",
                "securityContext": {"runAsNonRoot": True, "runAsUser": 10001,
                                    "seccompProfile": {"type": "RuntimeDefault"}},
                "containers": [{
                    "name": name, "image": image, "imagePullPolicy": "Never",
                    "command": ["python3", f"/scripts/{script}"],
                    "env": [{"name": k, "value": v} for k, v in env.items()],
                    "securityContext": {"readOnlyRootFilesystem": True,
                                        "allowPrivilegeEscalation": False,
                                        "capabilities": {"drop": ["ALL"]}},
                    "volumeMounts": [{"name": "scripts", "mountPath": "/scripts"}],
                }],
                "volumes": [{"name": "scripts", "configMap": {"name": "rosey-k8s-test-scripts"}}],
            }}},
    }


def job_logs(name: str, namespace: str) -> str:
    return kubectl("logs", f"job/{name}", namespace=namespace, check=False).stdout


def acked(namespace: str) -> int:
    lines = [ln for ln in job_logs("publisher", namespace).splitlines() if ln.startswith(("acked", "done"))]
    return int(lines[-1].split()[1]) if lines else 0


def pod_uid(name: str, namespace: str) -> str:
    return kubectl("get", "pod", name, "-o", "jsonpath={.metadata.uid}", namespace=namespace,
                   check=False).stdout


def delete_pod_mid_stream(name: str, namespace: str, *, after: int) -> None:
    wait_for(lambda: acked(namespace) >= after, timeout=600, what=f"{after} events acked")
    before = pod_uid(name, namespace)
    kubectl("delete", "pod", name, "--wait=false", namespace=namespace)
    wait_for(lambda: pod_uid(name, namespace) not in ("", before), timeout=120,
             what=f"{name} replaced")


def rolled_out(namespace: str) -> None:
    for obj in ("statefulset/rosey-nats", "statefulset/rosey-dbservice"):
        kubectl("rollout", "status", obj, "--timeout=300s", namespace=namespace, timeout=330)


def pvc_uids(namespace: str) -> dict[str, str]:
    items = kubectl_json("get", "pvc", namespace=namespace)["items"]
    return {i["metadata"]["name"]: i["metadata"]["uid"] for i in items}


def test_events_survive_deleting_dbservice_nats_and_bot_pods(images, namespace) -> None:
    values = {
        "cytube": {"channel": "rosey-kind", "domain": "http://127.0.0.1:9"},  # nothing to join
        "nats": {"replicas": 3},
        "dbservice": {"image": {"repository": images["dbservice"].split(":")[0],
                                "tag": images["dbservice"].split(":")[1], "pullPolicy": "Never"}},
        "bot": {"image": {"repository": images["bot"].split(":")[0],
                          "tag": images["bot"].split(":")[1], "pullPolicy": "Never"}},
    }
    with helm.Config(namespace=namespace) as cfg:
        cfg.check_reachable()
        cfg.install(str(CHART), RELEASE, values, timeout=600)
        rolled_out(namespace)
        kubectl("wait", "--for=condition=Ready", "pod/rosey-dbservice-0", "--timeout=300s",
                namespace=namespace, timeout=330)
        wait_for(lambda: kubectl_json("get", "pods", "-l", "app.kubernetes.io/component=bot",
                                      namespace=namespace)["items"], timeout=120, what="bot pod")

        # the chart's own round trip first
        result = cfg.test(RELEASE, timeout=300, logs=True)
        assert "rosey.db.query.channel_stats" in json.dumps(result)

        claims = pvc_uids(namespace)
        assert sorted(claims) == ["data-rosey-dbservice-0", "data-rosey-nats-0",
                                  "data-rosey-nats-1", "data-rosey-nats-2"]

        user = f"kind-{uuid.uuid4().hex[:8]}"
        env = {"ROSEY_NATS_URL": "nats://rosey-nats:4222", "ROSEY_TEST_USER": user,
               "N_EVENTS": str(N_EVENTS), "PACE_SECONDS": "0.01"}
        scripts = {"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": "rosey-k8s-test-scripts"},
                   "data": {p.name: p.read_text() for p in PODS_DIR.glob("*.py")}}
        kubectl("apply", "-f", "-", namespace=namespace, stdin=json.dumps(scripts))
        kubectl("apply", "-f", "-", namespace=namespace,
                stdin=json.dumps(job("publisher", "publisher.py", image=images["dbservice"], env=env)))

        bot_pod = kubectl_json("get", "pods", "-l", "app.kubernetes.io/component=bot",
                               namespace=namespace)["items"][0]["metadata"]["name"]
        delete_pod_mid_stream("rosey-dbservice-0", namespace, after=N_EVENTS // 4)
        delete_pod_mid_stream("rosey-nats-1", namespace, after=N_EVENTS // 2)
        delete_pod_mid_stream(bot_pod, namespace, after=3 * N_EVENTS // 4)

        kubectl("wait", "--for=condition=complete", "job/publisher", "--timeout=900s",
                namespace=namespace, timeout=930)
        assert f"done {N_EVENTS}" in job_logs("publisher", namespace)
        rolled_out(namespace)

        kubectl("apply", "-f", "-", namespace=namespace,
                stdin=json.dumps(job("query", "query.py", image=images["dbservice"], env=env)))
        kubectl("wait", "--for=condition=complete", "job/query", "--timeout=600s",
                namespace=namespace, timeout=630)
        report = json.loads(job_logs("query", namespace).strip().splitlines()[-1])

        assert report["user"]["found"] is True
        assert report["user"]["total_chat_lines"] == N_EVENTS
        assert report["stream_message_log"] == N_EVENTS
        assert report["stream_replicas"] == 3
        assert {"username": user, "chat_lines": N_EVENTS} in report["channel"]["top_chatters"]

        # the volumes are the same objects: nothing was recreated empty
        assert pvc_uids(namespace) == claims
        bot = kubectl_json("get", "pods", "-l", "app.kubernetes.io/component=bot",
                           namespace=namespace)["items"]
        assert len(bot) == 1 and bot[0]["status"]["phase"] == "Running"

        cfg.uninstall(RELEASE, timeout=300)
