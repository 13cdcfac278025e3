"""Passwords no nats-server version can misread (issue 24).

nats-server parses an environment variable's value as a config value: a password such as
``5T22UV95fXyV...`` read from ``$ROSEY_NATS_DBSERVICE_PASSWORD`` is a number, and the server
refuses to start (one fresh ``helm install`` in 25). The chart's NATS pod now has the
nats-passwords init container write each Secret key as a quoted string into a file that
nats.conf includes. Here the rendered pod is laid out on this machine, the init container's own
command is run, and the rendered nats.conf is started on a real nats-server, on the one the
tests use and on the release the chart ships, with hostile passwords; each identity then
connects the way Rosey's services do (``ROSEY_NATS_PASSWORD_FILE``, the Secret key mounted).
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import nats
import pytest

from rosey import bus
from rosey.config import nats_auth_settings
from rosey.nats_auth import IDENTITIES
from rosey.natsd import NatsServer

from .conftest import NATS_ENV, lay_out_nats_pod, nats_conf_path

#: values nats-server misread from the environment, and whatever else a config parser might
HOSTILE = [
    "5T22UV95fXyV6Q9vd9Z7PexWki6syHcO",  # digits, then a size letter: a number (2.9, 2.10)
    "31EB3biyQz0J9nKc6x1Vp0L2qW8dRr7T", "5g6DnvELq9vWm2bTzXk4Rr8yN1cJp0Hs",
    "12345",  # all digits: "interface conversion" on 2.15
    "1e5", "0x1f", "9f86d081884c7d659a2feaa0c55ad015",  # exponent, hex prefix, `openssl rand -hex`
    "true", "null", "[x]", "{", "a,b", "key: value", "key=value",
    "$HOME", "a$b", "$ROSEY_NATS_BOT_PASSWORD", 'qu"ote', '"', "back\\slash", "\\", "\\u0041",
    "tr\\n", "ha#sh", "// not a comment", "br}ace", "sp ace", " lead and trail ", "tab\there",
    "ünïcödé €", "😀 emoji", "'single'", "include ../x.conf",
]


def _groups(values: list[str]) -> list[tuple[str, ...]]:
    """The values, one per identity at a time (the last group filled up from the start)."""
    n = len(IDENTITIES)
    padded = values + values[: (-len(values)) % n]
    return [tuple(padded[i:i + n]) for i in range(0, len(padded), n)]


def _secret(passwords: dict[str, str], newline: bool) -> dict[str, bytes]:
    """As ``kubectl create secret --from-file`` stores them: ``echo pw >file`` ends in a newline."""
    return {u: (p + ("\n" if newline else "")).encode() for u, p in passwords.items()}


async def _connects(url: str, user: str, password_file: Path) -> None:
    """Connect as a Rosey service does: ROSEY_NATS_USER + ROSEY_NATS_PASSWORD_FILE."""
    auth = nats_auth_settings({"ROSEY_NATS_USER": user,
                               "ROSEY_NATS_PASSWORD_FILE": str(password_file)})
    # bus.connect retries until NATS takes it: a refused password would wait forever
    nc = await asyncio.wait_for(bus.connect(url, name=f"test-{user}", auth=auth), timeout=20)
    try:
        assert nc.is_connected
    finally:
        await nc.close()


@pytest.mark.parametrize("group", _groups(HOSTILE), ids=lambda t: "|".join(t)[:40])
async def test_every_identity_connects_with_a_hostile_password(render, tmp_path,
                                                                group) -> None:
    # on the pinned nats-server, which is the chart's image's release
    # (tests/test_nats_server_version.py)
    passwords = dict(zip(IDENTITIES, group, strict=True))
    rendered = render({"natsAuth": {"existingSecret": "my-nats"}})
    newline = len(group[0]) % 2 == 0  # half the Secrets as `echo pw >file` writes them
    secret = _secret(passwords, newline)
    init = lay_out_nats_pod(rendered, tmp_path / "pod", secret)
    assert init.returncode == 0, init.stderr
    async with NatsServer(config_file=nats_conf_path(rendered, tmp_path / "pod"),
                          jetstream=False, env={**os.environ, **NATS_ENV}) as server:
        for user in IDENTITIES:
            mounted = tmp_path / f"{user}.password"  # the key as the service's pod mounts it
            mounted.write_bytes(secret[user])
            await _connects(server.url, user, mounted)
        with pytest.raises(nats.errors.Error):  # and a wrong one is still refused
            await nats.connect(server.url, user="bot", password=passwords["bot"] + "x",
                               allow_reconnect=False, max_reconnect_attempts=0, connect_timeout=2)


@pytest.mark.parametrize(("value", "problem"), [
    (b"", "is empty"), (b"\n", "is empty"), (b"two\nlines", "contains a line break"),
    (b"cr\rinside", "contains a line break"), (b"nul\x00byte", "contains a control character"),
    (b"\xff\xfe not utf-8", "is not UTF-8 text"), (None, "cannot be read"),
])
def test_a_password_nats_cannot_take_stops_the_pod_with_one_line_naming_secret_and_key(
        render, tmp_path, value: bytes | None, problem: str) -> None:
    rendered = render({"natsAuth": {"existingSecret": "my-nats"}})
    secret = {"bot": b"fine", "dbservice": b"also fine", "web": b"fine too", "operator": value}
    if value is None:
        del secret["operator"]  # the key is missing from the Secret
    init = lay_out_nats_pod(rendered, tmp_path, secret)  # type: ignore[arg-type]
    assert init.returncode == 2
    assert init.stdout == ""
    (line,) = init.stderr.splitlines()
    assert "Secret 'my-nats', key 'operator'," in line and problem in line, line
    assert "fine" not in line  # no password is ever shown
    assert not list((tmp_path / "etc" / "nats-passwords").iterdir())  # nothing for nats to read
