"""The moderation record: apply ``rosey.db.moderation.action`` and answer its three queries
and the moderators' view's pages (``rosey.db.query.moderation_page``); and raid mode's state
(``rosey.db.automod.raid``, ``rosey.db.query.raid``).

Every action becomes one ``moderation_actions`` row, whatever its result. A successful action
that is no dry run (an automod rule's ``dry_run`` only records what it would have done) also
keeps the derived tables current (``docs/moderation.md``):

- ``mute``/``smute``/``ban`` open a punishment (``expires_at`` set for a timed one) and end the
  target's earlier active punishment of the same class (mute and smute are one class) as
  ``superseded``;
- ``unmute``/``unban`` end the target's active punishments of that class: ``expired`` when the
  bot lifted it because it ran out (origin ``expiry``), ``lifted`` otherwise;
- a failed ``unmute``/``unban`` from ``expiry`` keeps the punishment active and stores the error
  in ``last_error``, so ``punishments`` shows it as overdue and the bot tries again;
- ``warn`` adds a strike, ``note`` adds a note;
- ``remove`` and ``flag`` (automod's) are only the row.

Usernames match case-insensitively, as in the contract's tables.

A page of the record is read from one index, chosen by the filters (:data:`PAGE_INDEXES`: the
first filter given in that order, else the table itself), backwards from ``before_id``; the
other filters are checked on the rows it reads. A time range is also a range of ids (the
lowest and highest id of the actions in it, read from the ``timestamp`` index), so a month a
year ago is read from there, not from today.

Raid mode is one ``raid_state`` row: each event replaces it unless the row already holds a
newer one (by the event's timestamp; an equal one: the later in stream order wins).
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any, Final, cast

from rosey import contract
from rosey.store.queries import user_stats

__all__ = ["apply_moderation", "modlog", "punishments", "history", "moderation_page",
           "page_sql", "PAGE_INDEXES", "MODERATION_QUERIES", "CLASS_OF", "apply_raid_state",
           "raid"]

#: the punishment class of each punishing or lifting action
CLASS_OF: Final[dict[str, str]] = contract.PUNISHMENT_CLASS

_ACTION_COLUMNS: Final = ("id, timestamp, action, target, actor, origin, result, reason,"
                          " duration, expires_at, command, error, rule, dry_run")
_PUNISHMENT_COLUMNS: Final = ("id, kind, target, actor, started, reason, expires_at, ended_at,"
                              " ended_how, last_error")


def _active_of_class(kind_class: str) -> tuple[str, ...]:
    return tuple(k for k in contract.PUNISHMENT_KINDS if CLASS_OF[k] == kind_class)


def _end(conn: sqlite3.Connection, target: str, kind_class: str, at: int, how: str) -> None:
    kinds = _active_of_class(kind_class)
    conn.execute(
        f"UPDATE punishments SET ended_at = ?, ended_how = ? WHERE target = ?"
        f" AND ended_at IS NULL AND kind IN ({','.join('?' * len(kinds))})",
        (at, how, target, *kinds))


def apply_moderation(conn: sqlite3.Connection, e: contract.ModerationAction, at: int) -> None:
    """Apply one moderation action (inside the caller's transaction)."""
    expires = None if e.expires_at is None else contract.expiry_second(e.expires_at)
    cur = conn.execute(
        "INSERT INTO moderation_actions (timestamp, action, target, actor, origin, result,"
        " reason, duration, expires_at, command, error, ref, rule, dry_run)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (at, e.action, e.target, e.actor, e.origin, e.result, e.reason, e.duration, expires,
         e.command, e.error, e.ref, e.rule, int(e.dry_run)))
    action_id = cur.lastrowid
    kind_class = CLASS_OF.get(e.action)
    if e.dry_run or e.action in ("remove", "flag"):
        return  # the row is all there is: nothing was punished, lifted or noted
    if e.result != "success":
        if e.origin == "expiry" and kind_class is not None:
            kinds = _active_of_class(kind_class)
            conn.execute(
                f"UPDATE punishments SET last_error = ? WHERE target = ? AND ended_at IS NULL"
                f" AND kind IN ({','.join('?' * len(kinds))})",
                ((e.error or "failed")[:1000], e.target, *kinds))
        return
    if e.action in contract.PUNISHMENT_KINDS:
        assert kind_class is not None
        _end(conn, e.target, kind_class, at, "superseded")
        conn.execute(
            "INSERT INTO punishments (kind, target, actor, reason, started, expires_at,"
            " action_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (e.action, e.target, e.actor, e.reason, at, expires, action_id))
    elif e.action in ("unmute", "unban"):
        assert kind_class is not None
        _end(conn, e.target, kind_class, at, "expired" if e.origin == "expiry" else "lifted")
    elif e.action == "warn":
        conn.execute("INSERT INTO strikes (target, timestamp, actor, reason, ref, action_id)"
                     " VALUES (?, ?, ?, ?, ?, ?)",
                     (e.target, at, e.actor, e.reason, e.ref, action_id))
    elif e.action == "note":
        conn.execute("INSERT INTO notes (target, timestamp, actor, text, action_id)"
                     " VALUES (?, ?, ?, ?, ?)", (e.target, at, e.actor, e.reason, action_id))


def _opt(value: Any) -> int | None:
    return None if value is None else int(value)


def _record(row: tuple[Any, ...]) -> contract.ModerationRecord:
    (i, ts, action, target, actor, origin, result, reason, duration, expires, command, error,
     rule, dry_run) = row
    return contract.ModerationRecord(int(i), int(ts), action, target, actor, origin, result,
                                     reason or "", _opt(duration), _opt(expires), command, error,
                                     rule, bool(dry_run))


def _punishment(row: tuple[Any, ...]) -> contract.Punishment:
    i, kind, target, actor, started, reason, expires, ended, how, error = row
    return contract.Punishment(int(i), kind, target, actor, int(started), reason or "",
                               _opt(expires), _opt(ended), how, error)


def _actions(conn: sqlite3.Connection, username: str | None,
             limit: int) -> tuple[contract.ModerationRecord, ...]:
    if username is None:
        rows = conn.execute(f"SELECT {_ACTION_COLUMNS} FROM moderation_actions"
                            " ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
    else:
        # the newest ``limit`` as target and the newest ``limit`` as actor, each read backwards
        # from its index, hold the newest ``limit`` of either (issue 22: ``target = ? OR
        # actor = ?`` sorted every row of the user, 49,000 for the bot in a year: 80 ms)
        rows = conn.execute(
            f"SELECT {_ACTION_COLUMNS} FROM moderation_actions WHERE id IN ("
            " SELECT id FROM (SELECT id FROM moderation_actions WHERE target = ? COLLATE NOCASE"
            "  ORDER BY id DESC LIMIT ?)"
            " UNION SELECT id FROM (SELECT id FROM moderation_actions"
            "  WHERE actor = ? COLLATE NOCASE ORDER BY id DESC LIMIT ?))"
            " ORDER BY id DESC LIMIT ?", (username, limit, username, limit, limit)).fetchall()
    return tuple(_record(r) for r in rows)


def modlog(conn: sqlite3.Connection, q: contract.ModlogQuery) -> contract.ModlogReply:
    return contract.ModlogReply(_actions(conn, q.username, q.limit))


def punishments(conn: sqlite3.Connection,
                q: contract.PunishmentsQuery) -> contract.PunishmentsReply:
    where, args = "ended_at IS NULL", cast(tuple[str, ...], ())
    if q.username is not None:
        where, args = "ended_at IS NULL AND target = ?", (q.username,)
    rows = conn.execute(f"SELECT {_PUNISHMENT_COLUMNS} FROM punishments WHERE {where}"
                        " ORDER BY expires_at IS NULL, expires_at, id", args).fetchall()
    return contract.PunishmentsReply(tuple(_punishment(r) for r in rows))


def history(conn: sqlite3.Connection, q: contract.HistoryQuery) -> contract.HistoryReply:
    user = user_stats(conn, contract.UserStatsQuery(q.username)).user
    strikes = conn.execute("SELECT timestamp, actor, reason, ref FROM strikes WHERE target = ?"
                           " ORDER BY timestamp DESC, id DESC LIMIT 1000",
                           (q.username,)).fetchall()
    punished = conn.execute(f"SELECT {_PUNISHMENT_COLUMNS} FROM punishments WHERE target = ?"
                            " ORDER BY id DESC LIMIT ?", (q.username, q.limit)).fetchall()
    notes = conn.execute("SELECT timestamp, actor, text FROM notes WHERE target = ?"
                         " ORDER BY id DESC LIMIT ?", (q.username, q.limit)).fetchall()
    return contract.HistoryReply(
        user.username if user else q.username, user,
        tuple(contract.Strike(int(t), a, r or "", ref) for t, a, r, ref in strikes),
        tuple(_punishment(p) for p in punished),
        tuple(contract.Note(int(t), a, text) for t, a, text in notes),
        _actions(conn, q.username, q.limit))


#: (filter, its column's condition, the index it is read from), in the order one is chosen
#: to read by: a user's record and a rule's hits are small; an action is at most about a
#: quarter of a year's record, an actor may be the bot (half of it), an origin automod (half)
PAGE_INDEXES: Final[tuple[tuple[str, str, str], ...]] = (
    ("target", "target = ? COLLATE NOCASE", "moderation_actions_target"),
    ("rule", "rule = ?", "moderation_actions_rule"),
    ("action", "action = ?", "moderation_actions_action"),
    ("actor", "actor = ? COLLATE NOCASE", "moderation_actions_actor"),
    ("origin", "origin = ?", "moderation_actions_origin"),
)
#: above every id there is (SQLite's largest integer)
_NO_ID: Final = 2**63 - 1
_SPAN: Final = "SELECT {} FROM moderation_actions INDEXED BY moderation_actions_time WHERE "


def _span(q: contract.ModerationPageQuery) -> tuple[list[str], list[Any]]:
    """The page's bounds: the time range as conditions on ``timestamp``, and ``id`` below
    ``before_id`` and, with a time range, between the lowest and the highest id of the actions
    in it (read from its index: ``since`` gives the lowest, ``until`` the highest). One
    condition bounds ``id`` from above: SQLite starts reading from one upper bound only."""
    before = q.before_id or _NO_ID
    if q.since is None and q.until is None:
        return ["id < ?"], [before]
    in_range, bounds = [], []
    if q.since is not None:
        in_range.append("timestamp >= ?")
        bounds.append(q.since)
    if q.until is not None:
        in_range.append("timestamp <= ?")
        bounds.append(q.until)
    where, args = list(in_range), list(bounds)
    span = " AND ".join(in_range)
    if q.since is not None:
        where.append(f"id >= ({_SPAN.format('min(id)')}{span})")
        args += bounds
    if q.until is None:
        return [*where, "id < ?"], [*args, before]
    return ([*where, f"id < min(?, ({_SPAN.format('max(id)')}{span}) + 1)"],
            [*args, before, *bounds])


def page_sql(q: contract.ModerationPageQuery) -> tuple[str, list[Any]]:
    """The statement that reads one page (``limit + 1`` rows: one more says there is an older
    page) and its parameters."""
    wanted = {"target": q.target, "rule": q.rule, "actor": q.actor, "action": q.action,
              "origin": q.origin}
    given = [(cond, wanted[name], index) for name, cond, index in PAGE_INDEXES
             if wanted[name] is not None]
    source = f"INDEXED BY {given[0][2]}" if given else "NOT INDEXED"
    span, span_args = _span(q)
    where = [cond for cond, _, _ in given] + span
    args = [value for _, value, _ in given] + span_args
    return (f"SELECT {_ACTION_COLUMNS} FROM moderation_actions {source}"
            f" WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT ?", [*args, q.limit + 1])


def moderation_page(conn: sqlite3.Connection,
                    q: contract.ModerationPageQuery) -> contract.ModerationPageReply:
    sql, args = page_sql(q)
    rows = [_record(r) for r in conn.execute(sql, args).fetchall()]
    more = len(rows) > q.limit
    del rows[q.limit:]
    return contract.ModerationPageReply(tuple(rows), rows[-1].id if more else None)


def apply_raid_state(conn: sqlite3.Connection, e: contract.RaidState, at: int) -> None:
    """Record raid mode (inside the caller's transaction), unless a newer state is there."""
    when = e.timestamp if e.timestamp is not None else float(at)
    options = None if e.saved_options is None else json.dumps(
        e.saved_options, ensure_ascii=False, separators=(",", ":"))
    conn.execute(
        "INSERT INTO raid_state (id, active, saved_options, reason, started_at, updated_at)"
        " VALUES (1, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET active = excluded.active,"
        " saved_options = excluded.saved_options, reason = excluded.reason,"
        " started_at = excluded.started_at, updated_at = excluded.updated_at"
        " WHERE excluded.updated_at >= raid_state.updated_at",
        (int(e.active), options, e.reason, e.started_at, when))


def raid(conn: sqlite3.Connection, _: contract.RaidQuery) -> contract.RaidReply:
    row = conn.execute("SELECT active, saved_options, reason, started_at FROM raid_state"
                       " WHERE id = 1").fetchone()
    if row is None:
        return contract.RaidReply()
    active, options, reason, started = row
    return contract.RaidReply(bool(active), None if options is None else json.loads(options),
                              reason or "", None if started is None else float(started))


#: query type -> its answer, for :func:`rosey.store.answers.run_query`
MODERATION_QUERIES: Final[dict[type, Any]] = {
    contract.ModlogQuery: modlog, contract.PunishmentsQuery: punishments,
    contract.HistoryQuery: history, contract.RaidQuery: raid,
    contract.ModerationPageQuery: moderation_page,
}
