"""Who may do what on Rosey's NATS: one permission table, rendered as a nats-server
``authorization`` block (docs/nats-security.md).

Four users, each allowed exactly the subjects its job needs and nothing else; there is no
anonymous access (no ``no_auth_user``), so a client without a known user and password is
refused at connect:

- ``bot``: publishes the events it produces (never ``rosey.db.messages.outbound.enqueue``),
  requests the queries it asks, may create the stream when it is missing (its events are
  captured before the DatabaseService ever ran) but not update, purge or delete it, and
  receives replies and JetStream publish acknowledgements on its own inbox prefix
  ``_INBOX_bot.``; it also answers the web process's login requests (subscribes to
  ``contract.web.BOT_WEB_SUBJECTS``, ``allow_responses``);
- ``dbservice``: manages the stream and its durable consumer (info, create, update; the
  consumer also delete), pulls from it, acknowledges it, subscribes to the query subjects (and,
  for ``ROSEY_JETSTREAM=off``, the event subjects) and answers requests (``allow_responses``);
  its inbox prefix is ``_INBOX_dbservice.``;
- ``web``: the web page (``rosey-web``): requests ``contract.web.WEB_REQUEST_SUBJECTS`` (the
  DatabaseService's queries it reads and the bot's two login subjects) and receives the
  replies on ``_INBOX_web.``; nothing else: no event, no enqueue, no stream, no answering;
- ``operator``: outside tools: enqueue outbound messages and run the queries, with replies on
  the default ``_INBOX.`` prefix (the ``nats`` CLI's), which no service uses.

The services pick their inbox prefix from their user name (:func:`inbox_prefix`), so no
identity can read another's replies.
"""

from __future__ import annotations

import json
import os
import secrets
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from rosey import contract
from rosey.config import NatsAuth, Secret
from rosey.contract.admin import ADMIN_SUBJECTS
from rosey.contract.web import BOT_WEB_SUBJECTS, WEB_REQUEST_SUBJECTS
from rosey.errors import ConfigError
from rosey.natsd import SYNC_INTERVAL

__all__ = ["jetstream_block", "Permissions", "PERMISSIONS", "IDENTITIES", "BOT", "DBSERVICE",
           "OPERATOR", "WEB", "inbox_prefix", "authorization_block", "ensure_passwords", "identity_auth",
           "nats_conf", "tls_block", "read_passwords", "write_nats_conf", "BOT_EVENTS",
           "BOT_QUERIES", "password_variable", "nats_string", "password_problem",
           "passwords_include", "read_secret_passwords", "write_passwords_include"]

BOT = "bot"
DBSERVICE = "dbservice"
OPERATOR = "operator"
WEB = "web"
IDENTITIES = (BOT, DBSERVICE, OPERATOR, WEB)

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


#: what the bot publishes: every event whose class says so (``BOT_PUBLISHES``; not
#: rosey.db.messages.outbound.enqueue); tests/test_nats_auth*.py check the bot's code uses no other
BOT_EVENTS: tuple[str, ...] = tuple(s for s in contract.STREAM_SUBJECTS
                                    if contract.EVENT_TYPES[s].BOT_PUBLISHES)
#: what the bot asks: every query whose class says so (``BOT_ASKS``; not
#: rosey.db.stats.recent_chat.get, which is for outside tools)
BOT_QUERIES: tuple[str, ...] = tuple(s for s in contract.ALL_QUERY_SUBJECTS
                                     if contract.QUERY_TYPES[s].BOT_ASKS)

PERMISSIONS: dict[str, Permissions] = {
    BOT: Permissions(
        publish=(*BOT_EVENTS, *BOT_QUERIES,
                 f"{_JS}.STREAM.INFO.{_STREAM}", f"{_JS}.STREAM.CREATE.{_STREAM}"),
        # the web process's login requests: answered with allow_responses, to the asker only
        subscribe=(*BOT_WEB_SUBJECTS, f"{inbox_prefix(BOT)}.>"),
        allow_responses=True,
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
        subscribe=(*contract.ALL_QUERY_SUBJECTS, *contract.STREAM_SUBJECTS, *ADMIN_SUBJECTS,
                   f"{inbox_prefix(DBSERVICE)}.>"),
        allow_responses=True,
    ),
    OPERATOR: Permissions(
        publish=(contract.OUTBOUND_ENQUEUE, *contract.ALL_QUERY_SUBJECTS, *ADMIN_SUBJECTS),
        # the nats CLI's default inbox prefix, and the one rosey.bus gives a user
        subscribe=("_INBOX.>", f"{inbox_prefix(OPERATOR)}.>"),
    ),
    # reads only: the queries its pages need and the bot's login subjects, replies on its inbox
    WEB: Permissions(
        publish=WEB_REQUEST_SUBJECTS,
        subscribe=(f"{inbox_prefix(WEB)}.>",),
    ),
}


def _control_characters(value: str) -> list[str]:
    """Those with no escape that both JSON and nats-server's parser write alike (a tab has:
    ``\\t``)."""
    return [c for c in value if unicodedata.category(c) == "Cc" and c != "\t"]


def nats_string(value: str) -> str:
    """``value`` as a double-quoted string that nats-server's config parser reads back as is,
    whatever it holds (``$``, ``"``, ``\\``, ``#``, ``}``, digits, non-ASCII) and whatever
    the version: unquoted, nats-server reads ``5T22...`` as a number and ``$X`` as a variable.

    Its escapes are JSON's, less ``\\uXXXX`` (nats-server refuses it): non-ASCII stays UTF-8.
    A control character has no escape both understand and is refused (ValueError)."""
    if _control_characters(value):
        raise ValueError(f"{value!r} holds a control character")
    return json.dumps(value, ensure_ascii=False)



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
        perms = [f"publish: {{allow: [{', '.join(nats_string(s) for s in p.publish)}]}}",
                 f"subscribe: {{allow: [{', '.join(nats_string(s) for s in p.subscribe)}]}}"]
        if p.allow_responses:
            perms.append("allow_responses: true")
        password = (nats_string(passwords[user]) if passwords is not None
                    else f"${password_variable(user)}")
        lines.append(f"{indent}    {{user: {nats_string(user)}, password: {password}, "
                     f"permissions: {{{', '.join(perms)}}}}}")
    lines += [f"{indent}  ]", f"{indent}}}"]
    return "\n".join(lines) + "\n"


def tls_block(cert_file: Path, key_file: Path, indent: str = "") -> str:
    """Client connections must use TLS with this certificate (``verify`` is off: clients
    prove who they are with their password, not a certificate)."""
    return (f"{indent}tls {{\n{indent}  cert_file: {nats_string(str(cert_file))}\n"
            f"{indent}  key_file: {nats_string(str(key_file))}\n{indent}  timeout: 5\n{indent}}}\n")


def jetstream_block(store_dir: Path, sync_interval: str = SYNC_INTERVAL) -> str:
    """nats-server's ``jetstream { ... }`` block: the file store in ``store_dir``, flushed to
    disk as ``sync_interval`` says ("always": before every acknowledgement; or a duration such
    as "2m", nats-server's own default)."""
    return (f"jetstream {{ store_dir: {nats_string(str(store_dir))}, "
            f"sync_interval: {sync_interval} }}\n")


def nats_conf(passwords: dict[str, str], *, store_dir: Path,
              tls: tuple[Path, Path] | None = None, sync_interval: str = SYNC_INTERVAL) -> str:
    """A whole nats-server config: JetStream in ``store_dir`` (:func:`jetstream_block`), the
    authorization block and, given ``tls=(cert, key)``, TLS for clients (``rosey up``'s;
    listen address and port come from the command line)."""
    return ("# written by rosey up: users and permissions from rosey.nats_auth\n"
            + jetstream_block(store_dir, sync_interval)
            + authorization_block(passwords) + (tls_block(*tls) if tls else ""))


def password_problem(password: str) -> str | None:
    """Why ``password`` (as read from a file, trailing newline dropped) cannot be a NATS
    password, or None. Rosey's clients drop a file's trailing newline too
    (``ROSEY_NATS_PASSWORD_FILE``), so ``echo pw >file`` works on both sides."""
    if not password:
        return "is empty"
    if "\n" in password or "\r" in password:
        return "contains a line break"
    if _control_characters(password):
        return "contains a control character"
    return None


def passwords_include(passwords: dict[str, str]) -> str:
    """A nats-server config file that defines each identity's password variable
    (``ROSEY_NATS_BOT_PASSWORD: "..."``). nats.conf includes it before the authorization
    block, whose ``$ROSEY_NATS_<USER>_PASSWORD`` then resolves to this quoted string and never
    to the environment (where nats-server parses a value as config: ``5T22...`` is a number)."""
    return "".join(f"{password_variable(user)}: {nats_string(passwords[user])}\n"
                   for user in IDENTITIES)


def read_secret_passwords(directory: Path, secret_name: str) -> dict[str, str]:
    """{user: password} from a mounted Secret's files ``directory/<user>``; a missing,
    unreadable or unusable one is a ConfigError naming the Secret and the key."""
    passwords = {}
    for user in IDENTITIES:
        where = f"the NATS password in Secret {secret_name!r}, key {user!r},"
        try:
            raw = (directory / user).read_bytes()
        except OSError as exc:
            raise ConfigError(f"{where} cannot be read: {exc.strerror}") from None
        try:
            password = raw.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError:
            raise ConfigError(f"{where} is not UTF-8 text") from None
        problem = password_problem(password)
        if problem:
            raise ConfigError(f"{where} {problem}")
        passwords[user] = password
    return passwords


def write_passwords_include(directory: Path, secret_name: str, out: Path) -> None:
    """``out`` := :func:`passwords_include` of the Secret mounted at ``directory`` (0600)."""
    text = passwords_include(read_secret_passwords(directory, secret_name))
    try:
        _write_private(out, text)
    except OSError as exc:
        raise ConfigError(f"cannot write {out}: {exc.strerror}") from None


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
                    tls: tuple[Path, Path] | None = None,
                    sync_interval: str = SYNC_INTERVAL) -> None:
    _write_private(path, nats_conf(read_passwords(files), store_dir=store_dir, tls=tls,
                                   sync_interval=sync_interval))


def identity_auth(user: str, password_file: Path, base: NatsAuth | None = None) -> NatsAuth:
    """``base`` (TLS options) with the identity ``user`` and the password read from its file."""
    b = base or NatsAuth()
    return NatsAuth(user=user, password=Secret(password_file.read_text(encoding="utf-8").strip()),
                    tls_ca=b.tls_ca, tls_cert=b.tls_cert, tls_key=b.tls_key,
                    tls_hostname=b.tls_hostname)
