"""The chart's NATS identities and TLS (docs/nats-security.md): the rendered nats.conf, run by
a real nats-server with the rendered Secret's passwords, admits each identity to its job only."""

from __future__ import annotations

import asyncio
import base64
import os
from typing import Any

import nats
import pytest

from rosey import bus, contract
from rosey.config import NatsAuth, Secret, StreamSettings
from rosey.nats_auth import IDENTITIES
from rosey.natsd import NatsServer
from rosey.stream import ensure_stream
from tests.test_nats_auth import Identity
from tools import nats_auth_conf

from .conftest import (
    BOT,
    DB,
    NATS,
    NATS_ENV,
    WEB,
    WITH_CHANNEL,
    ChartNats,
    Cluster,
    chart_passwords,
    lay_out_nats_pod,
    nats_conf_path,
)


def test_the_authorization_file_is_generated_from_the_permission_table() -> None:
    assert nats_auth_conf.PATH.read_text() == nats_auth_conf.render(), \
        "stale: run .venv/bin/python -m tools.nats_auth_conf"


def _volume(pod: dict[str, Any], name: str) -> dict[str, Any]:
    return next(v for v in pod["volumes"] if v["name"] == name)


@pytest.mark.parametrize(("workload", "user"), [(DB, "dbservice"), (BOT, "bot"), (WEB, "web")])
def test_each_service_mounts_only_its_own_password(render, workload, user) -> None:
    rendered = render(WITH_CHANNEL)
    container = rendered.workload_container(*workload)
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["ROSEY_NATS_USER"] == user
    mount = next(m for m in container["volumeMounts"] if m["name"] == "nats-credentials")
    assert env["ROSEY_NATS_PASSWORD_FILE"] == f"{mount['mountPath']}/password"
    assert "ROSEY_NATS_TLS_CA" not in env  # TLS is opt-in
    pod = rendered.get(workload[0], workload[1])["spec"]["template"]["spec"]
    volume = _volume(pod, "nats-credentials")["secret"]
    assert volume["secretName"] == "rosey-nats-auth"
    assert volume["items"] == [{"key": user, "path": "password"}]


def test_the_secret_holds_a_random_password_per_identity_kept_across_upgrades(render) -> None:
    first, second = render({}), render({})
    secret = first.get("Secret", "rosey-nats-auth")
    assert set(secret["data"]) == {"bot", "dbservice", "operator", "web"} == set(IDENTITIES)
    passwords = [base64.b64decode(v).decode() for v in secret["data"].values()]
    assert len(set(passwords)) == 4 and all(len(p) == 32 for p in passwords)
    # random at first install; an upgrade looks the existing Secret up (Helm's lookup, which
    # an offline render cannot show) and Helm leaves it in place on uninstall
    assert second.get("Secret", "rosey-nats-auth")["data"] != secret["data"]
    assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert _nats_password_sources(first) == ("rosey-nats-auth", list(IDENTITIES))


def _nats_password_sources(rendered) -> tuple[str, list[str]]:
    """Where the NATS pod's passwords come from: only the init container's Secret volume (the
    Secret's name, its keys); never the nats container's environment (nats-server would parse
    each value as config there)."""
    nats_env = rendered.workload_container(*NATS)["env"]
    assert not [e for e in nats_env if "secretKeyRef" in e.get("valueFrom", {})], nats_env
    pod = rendered.get(NATS[0], NATS[1])["spec"]["template"]["spec"]
    init = next(c for c in pod["initContainers"] if c["name"] == "nats-passwords")
    volume = _volume(pod, "nats-auth-secret")["secret"]
    command = init["command"]
    assert command[command.index("--secret-name") + 1] == volume["secretName"]
    return volume["secretName"], [item["key"] for item in volume["items"]]


def test_an_existing_secret_replaces_the_generated_one(render) -> None:
    rendered = render(WITH_CHANNEL, {"natsAuth": {"existingSecret": "my-nats"}})
    assert not [s for s in rendered.of_kind("Secret") if s["metadata"]["name"] == "rosey-nats-auth"]
    for kind, name, _ in (DB, BOT, WEB):
        pod = rendered.get(kind, name)["spec"]["template"]["spec"]
        assert _volume(pod, "nats-credentials")["secret"]["secretName"] == "my-nats"
    assert _nats_password_sources(rendered) == ("my-nats", list(IDENTITIES))


def test_auth_can_be_switched_off_for_an_outside_nats(render) -> None:
    rendered = render(WITH_CHANNEL, {"natsAuth": {"enabled": False}})
    assert [s["metadata"]["name"] for s in rendered.of_kind("Secret")] == ["rosey-cytube"]
    assert "authorization" not in rendered.config_data("rosey-nats-config")["nats.conf"]
    assert "env" not in rendered.workload_container(*DB)


# --- the rendered config on a real nats-server ---------------------------------------------------
def _identity(chart_nats: ChartNats, user: str) -> Identity:
    return Identity(chart_nats.url, NatsAuth(user=user, password=Secret(chart_nats.passwords[user])))


async def test_the_chart_nats_refuses_anonymous_and_wrong_identities(chart_nats) -> None:
    with pytest.raises(nats.errors.Error):
        await nats.connect(chart_nats.url, allow_reconnect=False, max_reconnect_attempts=0,
                           connect_timeout=2)
    with pytest.raises(nats.errors.Error):
        await nats.connect(chart_nats.url, user="operator",
                           password=chart_nats.passwords["bot"], allow_reconnect=False,
                           max_reconnect_attempts=0, connect_timeout=2)
    async with _identity(chart_nats, "dbservice") as db_nc:
        await ensure_stream(db_nc.jetstream(), StreamSettings(), update=True)

        async def answer(msg) -> None:  # type: ignore[no-untyped-def]
            await msg.respond(b"{}")
        await db_nc.subscribe(contract.QUERY_CHANNEL_STATS, queue=contract.QUEUE_GROUP, cb=answer)
        await db_nc.flush()
        bot = _identity(chart_nats, "bot")
        async with bot as nc:
            await nc.jetstream().publish(contract.USER_JOINED, b"{}")  # its job, acknowledged
            await nc.request(contract.QUERY_CHANNEL_STATS, b"{}", timeout=5)
            await bot.refused(lambda: nc.publish(contract.OUTBOUND_ENQUEUE, b"{}"))
            await bot.refused(lambda: nc.subscribe("rosey.db.query.>"))
            await bot.refused(lambda: nc.jetstream(timeout=1).delete_stream(
                contract.STREAM_NAME))
        operator = _identity(chart_nats, "operator")
        async with operator as nc:
            await nc.jetstream().publish(contract.OUTBOUND_ENQUEUE, b"{}")
            await nc.request(contract.QUERY_CHANNEL_STATS, b"{}", timeout=5)
            await operator.refused(lambda: nc.publish(contract.PM_COMMAND, b"{}"))
            await operator.refused(lambda: nc.subscribe(contract.QUERY_USER_STATS))
        info = await db_nc.jetstream().stream_info(contract.STREAM_NAME)
        assert info.state.messages == 2  # the bot's event and the operator's enqueue, nothing forged


# --- TLS ---------------------------------------------------------------------------------------
TLS: dict[str, Any] = {"natsTls": {"enabled": True, "secretName": "my-nats-tls"}}


def test_tls_mounts_the_certificate_on_nats_and_the_ca_on_every_client(render) -> None:
    rendered = render(WITH_CHANNEL, TLS)
    conf = rendered.config_data("rosey-nats-config")["nats.conf"]
    assert "cert_file: /etc/nats-tls/tls.crt" in conf and "key_file: /etc/nats-tls/tls.key" in conf
    nats_pod = rendered.get("StatefulSet", "rosey-nats")["spec"]["template"]["spec"]
    assert _volume(nats_pod, "tls")["secret"]["secretName"] == "my-nats-tls"
    for kind, name, container in (DB, BOT, WEB):
        c = rendered.workload_container(kind, name, container)
        env = {e["name"]: e.get("value") for e in c["env"]}
        mount = next(m for m in c["volumeMounts"] if m["name"] == "nats-tls-ca")
        assert env["ROSEY_NATS_TLS_CA"] == f"{mount['mountPath']}/ca.crt"
        pod = rendered.get(kind, name)["spec"]["template"]["spec"]
        assert _volume(pod, "nats-tls-ca")["secret"] == {
            "secretName": "my-nats-tls", "defaultMode": 0o440,
            "items": [{"key": "ca.crt", "path": "ca.crt"}]}
    assert not rendered.of_kind("Certificate")


def test_a_cert_manager_certificate_only_where_cert_manager_is_served(render) -> None:
    values = {"natsTls": {"enabled": True, "certManager": {
        "enabled": True, "issuerRef": {"name": "my-ca", "kind": "ClusterIssuer"}}}}
    base = Cluster("1.30.0", ("v1", "apps/v1", "policy/v1"))
    assert not render(values, cluster=base).of_kind("Certificate")
    rendered = render(values, cluster=base.serving("cert-manager.io/v1"))
    (cert,) = rendered.of_kind("Certificate")
    assert cert["spec"]["secretName"] == "rosey-nats-tls"
    assert "rosey-nats" in cert["spec"]["dnsNames"]  # the name the clients connect to
    assert cert["spec"]["issuerRef"] == {"name": "my-ca", "kind": "ClusterIssuer",
                                         "group": "cert-manager.io"}
    pod = rendered.get("StatefulSet", "rosey-nats")["spec"]["template"]["spec"]
    assert _volume(pod, "tls")["secret"]["secretName"] == "rosey-nats-tls"


async def test_the_helm_test_connects_over_tls_verifying_the_ca(render, tmp_path) -> None:
    """The chart's TLS nats.conf on a real server, certificates from a CA made here; the helm
    test pod's script (operator, CA from its env) gets its answer over TLS."""
    from tests.test_nats_auth_tls import make_ca_and_server_cert

    from .test_chart_wiring import _run_test_pod_script, _test_pod

    pki = tmp_path / "pki"
    pki.mkdir()
    certs = await asyncio.to_thread(make_ca_and_server_cert, pki)
    rendered = render(TLS)
    assert lay_out_nats_pod(rendered, tmp_path / "pod").returncode == 0
    conf = nats_conf_path(rendered, tmp_path / "pod")
    conf.write_text(conf.read_text()
                    .replace("/etc/nats-tls/tls.crt", str(certs["cert"]))
                    .replace("/etc/nats-tls/tls.key", str(certs["key"])))
    passwords = chart_passwords(rendered)
    async with NatsServer(config_file=conf, jetstream=False,
                          env={**os.environ, **NATS_ENV}) as server:
        ca_auth = NatsAuth(user="dbservice", password=Secret(passwords["dbservice"]),
                           tls_ca=certs["ca"])
        db_nc = await bus.connect(server.url, name="db", auth=ca_auth)
        try:
            async def answer(msg) -> None:  # type: ignore[no-untyped-def]
                await msg.respond(b'{"success": true}')
            await db_nc.subscribe(contract.QUERY_CHANNEL_STATS, queue=contract.QUEUE_GROUP,
                                  cb=answer)
            await db_nc.flush()
            pod = _test_pod(rendered)
            password_file = tmp_path / "operator.password"
            password_file.write_text(passwords["operator"])
            container = pod["spec"]["containers"][0]
            for e in container["env"]:
                if e["name"] == "ROSEY_NATS_TLS_CA":
                    e["value"] = str(certs["ca"])
            result = await _run_test_pod_script(pod, server.url, password_file)
            assert result.returncode == 0, result.stdout
            for e in container["env"]:  # a CA that did not sign the server's certificate
                if e["name"] == "ROSEY_NATS_TLS_CA":
                    e["value"] = str(certs["other_ca"])
            refused = await _run_test_pod_script(pod, server.url, password_file)
            assert refused.returncode != 0
            assert "certificate verify failed" in refused.stdout.lower()
        finally:
            await db_nc.close()

