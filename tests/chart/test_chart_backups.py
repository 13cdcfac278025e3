"""The chart's backups, restore of a lost volume and retention (docs/durability.md): what a
default install gets, and what the values change."""

from __future__ import annotations

from typing import Any

from .conftest import DB, WITH_CHANNEL, Rendered

DB_CONFIG = "rosey-dbservice-config"
BACKUPS_PVC = "rosey-dbservice-backups"


def _pod(rendered: Rendered) -> dict[str, Any]:
    return rendered.get(DB[0], DB[1])["spec"]["template"]["spec"]


def test_a_default_install_backs_up_onto_its_own_kept_volume_and_restores_a_lost_one(render):
    rendered = render(WITH_CHANNEL)
    pvc = rendered.get("PersistentVolumeClaim", BACKUPS_PVC)
    assert pvc["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert pvc["spec"]["resources"]["requests"]["storage"] == "4Gi"
    env = rendered.config_data(DB_CONFIG)
    assert env["ROSEY_BACKUP_DIR"] == "/backups"
    assert (env["ROSEY_BACKUP_INTERVAL_SECONDS"], env["ROSEY_BACKUP_KEEP"]) == ("21600", "3")
    assert not any(k.startswith(("ROSEY_BACKUP_S3", "ROSEY_RETAIN")) for k in env)
    pod = _pod(rendered)
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["backups"]["persistentVolumeClaim"]["claimName"] == BACKUPS_PVC
    main = rendered.workload_container(*DB)
    assert {"name": "backups", "mountPath": "/backups"} in main["volumeMounts"]
    (restore,) = [c for c in pod["initContainers"] if c["name"] == "restore"]
    assert restore["command"] == ["rosey", "restore", "/backups", "--db-path", "/data/rosey.db",
                                  "--if-missing"]
    assert restore["image"] == main["image"]
    assert restore["securityContext"] == main["securityContext"]
    mounts = {m["name"]: m for m in restore["volumeMounts"]}
    assert mounts["backups"]["readOnly"] is True and mounts["data"]["mountPath"] == "/data"


def test_backups_off_means_no_volume_no_mount_and_no_restore(render):
    rendered = render(WITH_CHANNEL, {"dbservice": {"backup": {"enabled": False}}})
    assert not rendered.has("PersistentVolumeClaim", BACKUPS_PVC)
    assert not any(k.startswith("ROSEY_BACKUP") for k in rendered.config_data(DB_CONFIG))
    pod = _pod(rendered)
    assert "backups" not in {v["name"] for v in pod["volumes"]}
    assert "restore" not in [c["name"] for c in pod.get("initContainers", [])]


def test_a_bucket_gets_its_settings_and_credentials_from_an_existing_secret(render):
    rendered = render(WITH_CHANNEL, {"dbservice": {"backup": {"s3": {
        "url": "s3://backups/rosey", "endpoint": "https://minio.example", "region": "eu-1",
        "existingSecret": "rosey-s3"}}}})
    env = rendered.config_data(DB_CONFIG)
    assert (env["ROSEY_BACKUP_S3_URL"], env["ROSEY_BACKUP_S3_ENDPOINT"],
            env["ROSEY_BACKUP_S3_REGION"]) == ("s3://backups/rosey", "https://minio.example",
                                               "eu-1")
    main = rendered.workload_container(*DB)
    assert {"secretRef": {"name": "rosey-s3"}} in main["envFrom"]


def test_retention_values_become_settings(render):
    rendered = render(WITH_CHANNEL, {"dbservice": {"retention": {
        "chatDays": 365, "chatRows": 5_000_000, "userCountDays": 90}}})
    env = rendered.config_data(DB_CONFIG)
    assert (env["ROSEY_RETAIN_CHAT_DAYS"], env["ROSEY_RETAIN_CHAT_ROWS"],
            env["ROSEY_RETAIN_USER_COUNT_DAYS"]) == ("365", "5000000", "90")
