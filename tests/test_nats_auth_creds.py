"""NATS identities without a password: an nkey seed file (``ROSEY_NATS_NKEY_SEED_FILE``) and a
JWT credentials file (``ROSEY_NATS_CREDS_FILE``), each against a real nats-server set up for it,
through Rosey's own settings (:func:`rosey.config.nats_auth_settings`) and :func:`rosey.bus.connect`.

The keys and JWTs are made here with the ``nkeys`` package (what nats-py signs with): an nkey
user in ``authorization { users = [...] }``; an operator, an account and a user JWT chain for a
server in operator mode with a memory resolver. A seed the server does not know is refused,
and Rosey says so: ``nats_auth_refused`` at ERROR on every attempt, never the seed itself.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import nkeys
import pytest
from nats.aio.msg import Msg

from rosey import bus
from rosey.config import nats_auth_settings
from rosey.natsd import NatsServer
from tests.support.refusals import refused_connect


# --- keys and JWTs -----------------------------------------------------------------------------
def new_key(prefix: int) -> nkeys.KeyPair:
    """A fresh nkey pair: ``nkeys.PREFIX_BYTE_USER`` (U...), ``_ACCOUNT`` (A...), ``_OPERATOR``."""
    return nkeys.from_seed(bytearray(nkeys.encode_seed(os.urandom(32), prefix)))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt(issuer: nkeys.KeyPair, subject: str, name: str, nats: dict[str, Any]) -> str:
    """A NATS v2 JWT (``alg: ed25519-nkey``) with claims ``nats``, signed by ``issuer``."""
    claims: dict[str, Any] = {"iat": int(time.time()), "iss": issuer.public_key.decode(),
                              "name": name, "sub": subject, "nats": {**nats, "version": 2}}
    claims["jti"] = base64.b32encode(hashlib.sha256(json.dumps(claims).encode()).digest()
                                     ).decode().rstrip("=")
    signing_input = (_b64(json.dumps({"typ": "JWT", "alg": "ed25519-nkey"}).encode()) + "."
                     + _b64(json.dumps(claims).encode()))
    return signing_input + "." + _b64(issuer.sign(signing_input.encode()))


NO_LIMIT = {"subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1,
            "wildcards": True, "conn": -1, "leaf": -1}


def write_private(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o600)
    return path


def creds_file(path: Path, user_jwt: str, user: nkeys.KeyPair) -> Path:
    """The ``.creds`` layout ``nsc`` writes: the user JWT, then the user's seed."""
    return write_private(path, "-----BEGIN NATS USER JWT-----\n" + user_jwt
                         + "\n------END NATS USER JWT------\n\n"
                         "-----BEGIN USER NKEY SEED-----\n" + user.seed.decode()
                         + "\n------END USER NKEY SEED------\n")


# --- servers -----------------------------------------------------------------------------------
@pytest.fixture
async def nkey_nats(tmp_path) -> AsyncIterator[tuple[NatsServer, Path, Path]]:
    """A nats-server that knows one nkey user; (server, its seed file, an unknown user's)."""
    known, unknown = new_key(nkeys.PREFIX_BYTE_USER), new_key(nkeys.PREFIX_BYTE_USER)
    conf = write_private(tmp_path / "nats.conf", "authorization { users = [ { nkey: "
                         + known.public_key.decode() + " } ] }\n")
    async with NatsServer(config_file=conf, jetstream=False) as server:
        yield (server, write_private(tmp_path / "known.nk", known.seed.decode() + "\n"),
               write_private(tmp_path / "unknown.nk", unknown.seed.decode() + "\n"))


@pytest.fixture
async def operator_nats(tmp_path) -> AsyncIterator[tuple[NatsServer, Path, Path]]:
    """A nats-server in operator mode (memory resolver) with one account and one user;
    (server, the user's creds file, creds of a user signed by an account it does not know)."""
    operator = new_key(nkeys.PREFIX_BYTE_OPERATOR)
    op_pub = operator.public_key.decode()
    operator_jwt = jwt(operator, op_pub, "rosey-test", {"type": "operator"})
    files = []
    for name in ("known", "unknown"):
        account, user = new_key(nkeys.PREFIX_BYTE_ACCOUNT), new_key(nkeys.PREFIX_BYTE_USER)
        account_jwt = jwt(operator, account.public_key.decode(), f"{name}-account",
                          {"type": "account", "limits": NO_LIMIT})
        user_jwt = jwt(account, user.public_key.decode(), f"{name}-user",
                       {"type": "user", "pub": {}, "sub": {}, "subs": -1, "data": -1,
                        "payload": -1})
        files.append((account, account_jwt, creds_file(tmp_path / f"{name}.creds", user_jwt, user)))
    known_account, known_account_jwt, _ = files[0]
    conf = write_private(tmp_path / "nats.conf",
                         f"operator: {operator_jwt}\nresolver: MEMORY\nresolver_preload: {{\n"
                         f"  {known_account.public_key.decode()}: {known_account_jwt}\n}}\n")
    async with NatsServer(config_file=conf, jetstream=False) as server:
        yield server, files[0][2], files[1][2]


# --- the tests ---------------------------------------------------------------------------------
async def _round_trip(url: str, env: dict[str, str]) -> None:
    """Connect with the identity ``env`` names, through Rosey's settings and connect, and
    answer a request of our own (the connection is really authenticated and usable)."""
    nc = await asyncio.wait_for(bus.connect(url, name="creds-test", auth=nats_auth_settings(env)),
                                15)  # refused, it would retry forever
    try:
        async def echo(msg: Msg) -> None:
            await msg.respond(b"pong:" + msg.data)

        await nc.subscribe("rosey.test.echo", cb=echo)
        assert (await nc.request("rosey.test.echo", b"ping", timeout=5)).data == b"pong:ping"
    finally:
        await nc.close()


async def _refused(url: str, env: dict[str, str]) -> list[dict[str, Any]]:
    """Rosey's connect keeps retrying and says so at ERROR each time; stop it after two."""
    logs = await refused_connect(url, nats_auth_settings(env), times=2)
    refused = [e for e in logs if e["event"] == "nats_auth_refused"]
    assert all(e["log_level"] == "error" for e in refused)
    assert "nats_connected" not in [e["event"] for e in logs]
    return logs


async def test_an_nkey_seed_file_logs_in_and_an_unknown_seed_is_refused(nkey_nats):
    server, known, unknown = nkey_nats
    await _round_trip(server.url, {"ROSEY_NATS_NKEY_SEED_FILE": str(known)})
    logs = await _refused(server.url, {"ROSEY_NATS_NKEY_SEED_FILE": str(unknown)})
    assert unknown.read_text().strip() not in json.dumps(logs, default=str)


async def test_a_credentials_file_logs_in_and_one_from_an_unknown_account_is_refused(operator_nats):
    server, known, unknown = operator_nats
    await _round_trip(server.url, {"ROSEY_NATS_CREDS_FILE": str(known)})
    logs = await _refused(server.url, {"ROSEY_NATS_CREDS_FILE": str(unknown)})
    seed = unknown.read_text().split("-----BEGIN USER NKEY SEED-----\n")[1].split("\n")[0]
    assert seed.startswith("SU") and seed not in json.dumps(logs, default=str)
