"""TLS for client connections: a CA made in the test (openssl), nats-server with TLS and the
permission table, and the real DatabaseService connecting as ``dbservice`` while verifying the
server against that CA."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from rosey import bus, contract, nats_auth
from rosey.config import NatsAuth
from rosey.natsd import NatsServer
from tests.support.procs import exit_code_after, free_port, http_status, reaped
from tests.support.refusals import refused_connect
from tests.support.wait import eventually


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_ca_and_server_cert(d: Path) -> dict[str, Path]:
    """A self-signed CA and a server certificate for 127.0.0.1/localhost signed by it, plus
    a second CA that signed nothing here (for the refusal)."""
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key",
             "-out", "ca.pem", "-days", "2", "-subj", "/CN=rosey test CA", cwd=d)
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "other.key",
             "-out", "other-ca.pem", "-days", "2", "-subj", "/CN=another CA", cwd=d)
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out",
             "server.csr", "-subj", "/CN=nats", cwd=d)
    (d / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                               "extendedKeyUsage=serverAuth\n")
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf", cwd=d)
    return {"ca": d / "ca.pem", "other_ca": d / "other-ca.pem", "cert": d / "server.pem",
            "key": d / "server.key"}


@pytest.fixture
async def tls_nats(tmp_path) -> AsyncIterator[tuple[NatsServer, dict[str, Path], dict[str, Path]]]:
    pki = tmp_path / "pki"
    pki.mkdir()
    certs = await asyncio.to_thread(make_ca_and_server_cert, pki)
    files = nats_auth.ensure_passwords(tmp_path / "nats-auth")
    conf = tmp_path / "nats.conf"
    nats_auth.write_nats_conf(conf, files, store_dir=tmp_path / "js",
                              tls=(certs["cert"], certs["key"]))
    server = NatsServer(config_file=conf, jetstream=False)
    await server.start()
    try:
        yield server, files, certs
    finally:
        await server.stop()


async def _cannot_connect(url: str, auth: NatsAuth) -> list[dict[str, object]]:
    # a failed handshake leaves nats-py's connect() hanging: rosey.bus gives the round up
    # after (first_attempt_timeout + 1) * 2 + 1 s, 7 s at its default of 2; a local server
    # answers well within a quarter second
    return await refused_connect(url, auth, events=("nats_unreachable", "nats_auth_refused",
                                                    "nats_tls_failed"),
                                 first_attempt_timeout=0.25)


async def test_services_verify_the_server_against_the_ca_and_do_their_job(tls_nats, tmp_path):
    server, files, certs = tls_nats
    # no TLS, or a CA that did not sign the server's certificate: no connection
    no_tls = nats_auth.identity_auth(nats_auth.OPERATOR, files[nats_auth.OPERATOR])
    await _cannot_connect(server.url, no_tls)
    wrong_ca = nats_auth.identity_auth(nats_auth.OPERATOR, files[nats_auth.OPERATOR],
                                       NatsAuth(tls_ca=certs["other_ca"]))
    logs = await _cannot_connect(server.url, wrong_ca)
    [failed, *_] = [e for e in logs if e["event"] == "nats_tls_failed"]
    assert failed["log_level"] == "error"
    assert "certificate verify failed" in failed["error"].lower()

    # the real DatabaseService: its identity and the CA from ROSEY_NATS_* settings
    db_port = free_port()
    env = {**os.environ, "ROSEY_NATS_URL": server.url, "ROSEY_NATS_USER": nats_auth.DBSERVICE,
           "ROSEY_NATS_PASSWORD_FILE": str(files[nats_auth.DBSERVICE]),
           "ROSEY_NATS_TLS_CA": str(certs["ca"]), "ROSEY_DB_PATH": str(tmp_path / "rosey.db"),
           "ROSEY_METRICS_PORT": str(db_port), "ROSEY_LOG_FORMAT": "json"}
    log_path = tmp_path / "db.log"
    with open(log_path, "wb") as out:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "rosey.db", env=env, stdout=out,
            stderr=asyncio.subprocess.STDOUT, stdin=asyncio.subprocess.DEVNULL)
    async with reaped(proc):
        await eventually(lambda: http_status(db_port, "/readyz") == 200,
                         timeout=30, what="the DatabaseService ready")
        bot_auth = nats_auth.identity_auth(nats_auth.BOT, files[nats_auth.BOT],
                                           NatsAuth(tls_ca=certs["ca"]))
        nc = await bus.connect(server.url, name="bot", auth=bot_auth)
        try:
            assert nc.connected_url is not None
            await nc.jetstream().publish(contract.MESSAGE_LOG, contract.encode(
                contract.MessageLog("alice", "hello over tls", 1_700_000_000)))

            async def counted() -> bool:
                msg = await nc.request(contract.QUERY_USER_STATS,
                                       contract.encode(contract.UserStatsQuery("alice")),
                                       timeout=5)
                return json.loads(msg.data).get("total_chat_lines") == 1

            await eventually(counted, timeout=20, what="the event applied and queried")
        finally:
            await nc.close()
        assert await exit_code_after(proc, 15) == 0
    text = log_path.read_text()
    assert "nats_permission_denied" not in text
    assert files[nats_auth.DBSERVICE].read_text().strip() not in text
