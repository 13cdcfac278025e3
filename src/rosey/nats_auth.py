"""Who may do what on Rosey's NATS: one permission table, rendered as a nats-server
``authorization`` block (docs/nats-security.md).

Three users, each allowed exactly the subjects its job needs and nothing else; there is no
anonymous access (no ``no_auth_user``), so a client without a known user and password is
refused at connect:

- ``bot``: publishes the events it produces (never ``rosey.db.messages.outbound.enqueue``),
  requests the queries it asks, may create the stream when it is missing (its events are
  captured before the DatabaseService ever ran) but not update, purge or delete it, and
  receives replies and JetStream publish acknowledgements on its own inbox prefix
  ``_INBOX_bot.``;
- ``dbservice``: manages the stream and its durable consumer (info, create, update; the
  consumer also delete), pulls from it, acknowledges it, subscribes to the query subjects (and,
  for ``ROSEY_JETSTREAM=off``, the event subjects) and answers requests (``allow_responses``);
  its inbox prefix is ``_INBOX_dbservice.``;
- ``operator``: outside tools: enqueue outbound messages and run the queries, with replies on
  the default ``_INBOX.`` prefix (the ``nats`` CLI's), which no service uses.

The services pick their inbox prefix from their user name (:func:`inbox_prefix`), so no
identity can read another's replies.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from rosey import contract
from rosey.config import NatsAuth, Secret

__all__ = ["Permissions", "PERMISSIONS", "IDENTITIES", "BOT", "DBSERVICE", "OPERATOR",
           "inbox_prefix", "authorization_block", "ensure_passwords", "identity_auth",
           "nats_conf", "tls_block", "read_passwords", "write_nats_conf", "BOT_EVENTS",
           "BOT_QUERIES", "password_variable"]

BOT = "bot"
DBSERVICE = "dbservice"
OPERATOR = "operator"
IDENTITIES = (BOT, DBSERVICE, OPERATOR)

_JS = "$JS.API"
_STREAM = contract.STREAM_NAME
_DURABLE = f"{contract.STREAM_NAME}.{contract.CONSUMER_NAME}"


def inbox_prefix(user: str) -> str:
    """The reply-subject prefix a service connected as ``user`` uses (``_INBOX_bot``)."""
    return f"_INBOX_{user}"


@dataclass(frozen=True, slots=True)
class Permissions:
    publish: tuple[str, ...]
    subscribe: tuple[str, ...]
    #: may publish to the reply subject of a request it received (a replier)
    allow_responses: bool = False


#: what the bot publishes (tests/test_nats_auth*.py check the bot's code uses no other)
BOT_EVENTS: tuple[str, ...] = tuple(s for s in contract.STREAM_SUBJECTS
                                    if s != contract.OUTBOUND_ENQUEUE)
#: what the bot asks (rosey.db.stats.recent_chat.get is for outside tools)
BOT_QUERIES: tuple[str, ...] = tuple(s for s in contract.ALL_QUERY_SUBJECTS
                                     if s != contract.RECENT_CHAT_GET)

PERMISSIONS: dict[str, Permissions] = {
    BOT: Permissions(
        publish=(*BOT_EVENTS, *BOT_QUERIES,
                 f"{_JS}.STREAM.INFO.{_STREAM}", f"{_JS}.STREAM.CREATE.{_STREAM}"),
        subscribe=(f"{inbox_prefix(BOT)}.>",),
    ),
    DBSERVICE: Permissions(
        publish=(
            f"{_JS}.INFO",  # account info: is JetStream on? (ROSEY_JETSTREAM=auto)
            f"{_JS}.STREAM.INFO.{_STREAM}", f"{_JS}.STREAM.CREATE.{_STREAM}",
            f"{_JS}.STREAM.UPDATE.{_STREAM}",
            f"{_JS}.CONSUMER.INFO.{_DURABLE}", f"{_JS}.CONSUMER.DELETE.{_DURABLE}",
            # nats-py creates a consumer with a durable name and no filter with
            # CONSUMER.DURABLE.CREATE, one with ``name`` set with CONSUMER.CREATE
            f"{_JS}.CONSUMER.DURABLE.CREATE.{_DURABLE}", f"{_JS}.CONSUMER.CREATE.{_DURABLE}",
            f"{_JS}.CONSUMER.MSG.NEXT.{_DURABLE}",
            f"$JS.ACK.{_DURABLE}.>",
        ),
        subscribe=(*contract.ALL_QUERY_SUBJECTS, *contract.STREAM_SUBJECTS,
                   f"{inbox_prefix(DBSERVICE)}.>"),
        allow_responses=True,
    ),
    OPERATOR: Permissions(
        publish=(contract.OUTBOUND_ENQUEUE, *contract.ALL_QUERY_SUBJECTS),
        # the nats CLI's default inbox prefix, and the one rosey.bus gives a user
        subscribe=("_INBOX.>", f"{inbox_prefix(OPERATOR)}.>"),
    ),
}


def _q(value: str) -> str:
    return json.dumps(value)  # a double-quoted string nats-server's config parser reads as is


def password_variable(user: str) -> str:
    """The environment variable the chart's nats-server reads ``user``'s password from."""
    return f"ROSEY_NATS_{user.upper()}_PASSWORD"


def authorization_block(passwords: dict[str, str] | None = None, indent: str = "") -> str:
    """The ``authorization { users = [...] }`` block for ``passwords`` ({user: password});
    without passwords each is the environment variable :func:`password_variable` names
    (nats-server resolves ``$NAME`` from its environment: the chart's Secret)."""
    lines = [f"{indent}authorization {{", f"{indent}  users = ["]
    for user in IDENTITIES:
        p = PERMISSIONS[user]
        perms = [f"publish: {{allow: [{', '.join(_q(s) for s in p.publish)}]}}",
                 f"subscribe: {{allow: [{', '.join(_q(s) for s in p.subscribe)}]}}"]
        if p.allow_responses:
            perms.append("allow_responses: true")
        password = (_q(passwords[user]) if passwords is not None
                    else f"${password_variable(user)}")
        lines.append(f"{indent}    {{user: {_q(user)}, password: {password}, "
                     f"permissions: {{{', '.join(perms)}}}}}")
    lines += [f"{indent}  ]", f"{indent}}}"]
    return "\n".join(lines) + "\n"


def tls_block(cert_file: Path, key_file: Path, indent: str = "") -> str:
    """Client connections must use TLS with this certificate (``verify`` is off: clients
    prove who they are with their password, not a certificate)."""
    return (f"{indent}tls {{\n{indent}  cert_file: {_q(str(cert_file))}\n"
            f"{indent}  key_file: {_q(str(key_file))}\n{indent}  timeout: 5\n{indent}}}\n")


def nats_conf(passwords: dict[str, str], *, store_dir: Path,
              tls: tuple[Path, Path] | None = None) -> str:
    """A whole nats-server config: JetStream in ``store_dir``, the authorization block and,
    given ``tls=(cert, key)``, TLS for clients (``rosey up``'s; listen address and port come
    from the command line)."""
    return (f"# written by rosey up: users and permissions from rosey.nats_auth\n"
            f"jetstream {{ store_dir: {_q(str(store_dir))} }}\n"
            + authorization_block(passwords) + (tls_block(*tls) if tls else ""))


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(path, 0o600)


def ensure_passwords(directory: Path) -> dict[str, Path]:
    """One random password per identity in ``directory/<user>.password`` (0600), made once
    and kept; returns {user: file}."""
    directory.mkdir(mode=0o700, exist_ok=True)
    files = {}
    for user in IDENTITIES:
        path = directory / f"{user}.password"
        if not path.exists() or not path.read_text(encoding="utf-8").strip():
            _write_private(path, secrets.token_urlsafe(32) + "\n")
        files[user] = path
    return files


def read_passwords(files: dict[str, Path]) -> dict[str, str]:
    return {user: path.read_text(encoding="utf-8").strip() for user, path in files.items()}


def write_nats_conf(path: Path, files: dict[str, Path], *, store_dir: Path,
                    tls: tuple[Path, Path] | None = None) -> None:
    _write_private(path, nats_conf(read_passwords(files), store_dir=store_dir, tls=tls))


def identity_auth(user: str, password_file: Path, base: NatsAuth | None = None) -> NatsAuth:
    """``base`` (TLS options) with the identity ``user`` and the password read from its file."""
    b = base or NatsAuth()
    return NatsAuth(user=user, password=Secret(password_file.read_text(encoding="utf-8").strip()),
                    tls_ca=b.tls_ca, tls_cert=b.tls_cert, tls_key=b.tls_key,
                    tls_hostname=b.tls_hostname)
