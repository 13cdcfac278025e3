"""The Grafana dashboard the chart ships, as code (Grafana's ``grafana-foundation-sdk``).

``helm/rosey/files/dashboards/rosey.json`` is generated from this module; edit here, then::

    .venv/bin/python -m tools.dashboard          # rewrite the JSON
    .venv/bin/python -m tools.dashboard --check  # exit 1 when the JSON is stale

``tests/observability/test_dashboard_code.py`` fails when the committed JSON differs from
what :func:`build` generates. The module lives outside ``src/`` (the images never import it)
and outside ``helm/rosey/`` (``helm package`` would ship it); the SDK is a ``test`` extra.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, TypeVar

from grafana_foundation_sdk.builders import (
    bargauge,
    common,
    dashboard,
    prometheus,
    stat,
    statetimeline,
    timeseries,
)
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import dashboard as model
from grafana_foundation_sdk.models.common import (
    BarGaugeDisplayMode,
    BigValueColorMode,
    BigValueGraphMode,
    BigValueTextMode,
    GraphDrawStyle,
    LegendDisplayMode,
    LegendPlacement,
    SortOrder,
    StackingMode,
    TooltipDisplayMode,
    VisibilityMode,
    VizOrientation,
)

__all__ = ["OUTPUT", "build", "render", "main"]

OUTPUT = Path(__file__).resolve().parents[1] / "helm" / "rosey" / "files" / "dashboards" / "rosey.json"

DATASOURCE = model.DataSourceRef(type_val="prometheus", uid="${datasource}")
RATE = "$__rate_interval"
RANGE = "$__range"

Panel = timeseries.Panel | stat.Panel | bargauge.Panel | statetimeline.Panel
P = TypeVar("P", timeseries.Panel, stat.Panel, bargauge.Panel, statetimeline.Panel)


# --- building blocks ---------------------------------------------------------------------------
def q(expr: str, legend: str) -> prometheus.Dataquery:
    return prometheus.Dataquery().expr(expr).legend_format(legend).range().datasource(DATASOURCE)


def quantiles(metric: str, *qs: float) -> list[prometheus.Dataquery]:
    """``histogram_quantile`` of a histogram summed across instances, one target per quantile."""
    return [q(f"histogram_quantile({x}, sum by (le) (rate({metric}_bucket[{RATE}])))",
              f"p{round(x * 100)}") for x in qs]


def steps(*colours: tuple[float | None, str]) -> dashboard.ThresholdsConfig:
    return dashboard.ThresholdsConfig().mode(model.ThresholdsMode.ABSOLUTE).steps(
        [model.Threshold(value=v, color=c) for v, c in colours])


def _common(p: P, title: str, description: str, targets: list[prometheus.Dataquery], *,
            unit: str | None, w: int, h: int) -> P:
    p = p.title(title).description(description).datasource(DATASOURCE).span(w).height(h)
    if unit is not None:
        p = p.unit(unit)
    for ref, target in zip("ABCDEFGH", targets, strict=False):
        p = p.with_target(target.ref_id(ref))
    return p


def graph(title: str, description: str, *targets: prometheus.Dataquery, unit: str = "short",
          bars: bool = False, stacked: bool = False, w: int = 8, h: int = 8) -> Panel:
    """A time series: lines, or stacked bars for counts per interval."""
    p = _common(timeseries.Panel(), title, description, list(targets), unit=unit, w=w, h=h)
    return (p.draw_style(GraphDrawStyle.BARS if bars else GraphDrawStyle.LINE)
            .line_width(1).fill_opacity(80 if bars else 10).show_points(VisibilityMode.NEVER)
            .span_nulls(False)
            .stacking(common.StackingConfig()
                      .mode(StackingMode.NORMAL if stacked or bars else StackingMode.NONE).group("A"))
            .legend(common.VizLegendOptions().display_mode(LegendDisplayMode.LIST)
                    .placement(LegendPlacement.BOTTOM).show_legend(True))
            .tooltip(common.VizTooltipOptions().mode(TooltipDisplayMode.MULTI).sort(SortOrder.DESCENDING)))


def last_value() -> common.ReduceDataOptions:
    return common.ReduceDataOptions().calcs(["lastNotNull"]).fields("").values(False)


def big_number(title: str, description: str, *targets: prometheus.Dataquery,
               thresholds: dashboard.ThresholdsConfig) -> Panel:
    p = _common(stat.Panel(), title, description, list(targets), unit="short", w=4, h=7)
    return (p.decimals(0).thresholds(thresholds).reduce_options(last_value())
            .color_mode(BigValueColorMode.BACKGROUND).graph_mode(BigValueGraphMode.NONE)
            .text_mode(BigValueTextMode.AUTO))


def ranking(title: str, description: str, target: prometheus.Dataquery) -> Panel:
    """Horizontal bars, one per series: counts over the selected time range."""
    p = _common(bargauge.Panel(), title, description, [target], unit="short", w=8, h=8)
    return (p.decimals(0).orientation(VizOrientation.HORIZONTAL)
            .display_mode(BarGaugeDisplayMode.BASIC).reduce_options(last_value())
            .show_unfilled(True))


def lanes(title: str, description: str, *targets: prometheus.Dataquery,
          off: tuple[str, str], on: tuple[str, str], w: int = 12, h: int = 7) -> Panel:
    """One lane per series of a 0/1 gauge: ``off`` and ``on`` are (text, colour) for 0 and 1."""
    p = _common(statetimeline.Panel(), title, description, list(targets), unit=None, w=w, h=h)
    return (p.mappings([model.ValueMap(options={
                "0": model.ValueMappingResult(text=off[0], color=off[1], index=0),
                "1": model.ValueMappingResult(text=on[0], color=on[1], index=1)})])
            .min(0).max(1)
            .color_scheme(dashboard.FieldColor().mode(model.FieldColorModeId.THRESHOLDS))
            .thresholds(steps((None, off[1]), (1, on[1])))
            .show_value(VisibilityMode.NEVER).merge_values(True).row_height(0.8)
            .legend(common.VizLegendOptions().display_mode(LegendDisplayMode.LIST)
                    .placement(LegendPlacement.BOTTOM).show_legend(False)))


def up_down(title: str, description: str, *targets: prometheus.Dataquery) -> Panel:
    """One lane per series: 1 = up (green), 0 = down (red)."""
    return lanes(title, description, *targets, off=("down", "red"), on=("up", "green"))


def increase(metric: str, by: str, legend: str, window: str = RATE) -> prometheus.Dataquery:
    return q(f"sum by ({by}) (increase({metric}[{window}]))", legend)


def per_second(metric: str, legend: str, by: str = "") -> prometheus.Dataquery:
    grouping = f" by ({by}) " if by else ""
    return q(f"sum{grouping}(rate({metric}[{RATE}]))", legend)


# --- the dashboard -----------------------------------------------------------------------------
def rows() -> list[tuple[str, list[Panel]]]:
    return [
        ("Health", [
            up_down(
                "Connection states",
                "1 = up, 0 = down, per process. NATS: the DatabaseService and the bot each hold a"
                " NATS connection. CyTube: the bot is joined to its channel. JetStream: the"
                " DatabaseService ingests through the durable JetStream consumer (0 = core-NATS"
                " fallback, at-most-once; also 0 until it has connected). Ready: the process's"
                " /readyz answers 200, i.e. all its readiness checks pass (both processes).",
                q("rosey_nats_connected", "NATS {{instance}}"),
                q("rosey_cytube_connected", "CyTube {{instance}}"),
                q("rosey_jetstream_enabled", "JetStream {{instance}}"),
                q("rosey_ready", "Ready {{instance}}")),
            big_number(
                "Dropped events (time range)",
                "Events the bot gave up on in the selected time range (outbox full while"
                " JetStream was away, or left over at shutdown). They are missing from the"
                " database. Alert: RoseyEventsDropped.",
                q(f"sum(increase(rosey_events_dropped_total[{RANGE}]))", "dropped"),
                thresholds=steps((None, "green"), (1, "red"))),
            big_number(
                "Rejected events (time range)",
                "Events the DatabaseService refused as bad input (dead-lettered) in the selected"
                " time range. Alert: RoseyEventsRejectedSpike.",
                q(f"sum(increase(rosey_events_rejected_total[{RANGE}]))", "rejected"),
                thresholds=steps((None, "green"), (1, "orange"), (11, "red"))),
            big_number(
                "Backlog now",
                "Outbox: events waiting in the bot to be acknowledged by JetStream. Pending:"
                " events in the stream not yet delivered to the DatabaseService.",
                q("sum(rosey_outbox_depth)", "outbox"), q("sum(rosey_consumer_pending)", "pending"),
                thresholds=steps((None, "green"), (100, "orange"), (1000, "red"))),
        ]),
        ("Bot: publishing to JetStream", [
            graph("Publish latency",
                  "From handing an event to the outbox until JetStream acknowledged it (includes"
                  " time queued while NATS was away).",
                  *quantiles("rosey_event_publish_seconds", 0.5, 0.95, 0.99), unit="s"),
            graph("Dropped events by reason",
                  "Events dropped per interval. outbox_full: the outbox (ROSEY_OUTBOX_SIZE)"
                  " overflowed and the oldest event was dropped. shutdown: left in the outbox"
                  " when the bot exited. unencodable / rejected: one event JSON could not encode"
                  " or NATS refused for good (too large), not retried. Also, not dropped: events"
                  " JetStream stored out of publish order (an earlier one of the same ack window"
                  " was stored after them).",
                  increase("rosey_events_dropped_total", "reason", "{{reason}}"),
                  q(f"sum(increase(rosey_events_out_of_order_total[{RATE}]))", "out of order"),
                  bars=True),
            graph("Outbox depth",
                  "Events waiting in the bot's outbox. Near zero normally; climbs while NATS or"
                  " JetStream is away; at ROSEY_OUTBOX_SIZE the oldest events are dropped."
                  " Alert: RoseyOutboxBacklog.",
                  q("rosey_outbox_depth", "{{instance}}")),
            graph("Events published by subject",
                  "Events acknowledged by JetStream per second, by subject.",
                  per_second("rosey_events_published_total", "{{subject}}", by="subject"),
                  unit="ops", stacked=True, w=12),
            graph("Reconnects",
                  "Reconnections per interval: NATS (both processes), CyTube (bot), and recreated"
                  " pull subscriptions (DatabaseService); NATS permissions violations (an identity used a"
                  " subject it may not: docs/nats-security.md).",
                  increase("rosey_nats_reconnects_total", "instance", "NATS {{instance}}"),
                  increase("rosey_cytube_reconnects_total", "instance", "CyTube {{instance}}"),
                  increase("rosey_consumer_restarts_total", "instance",
                           "consumer restarts {{instance}}"),
                  increase("rosey_nats_permission_errors_total", "instance",
                           "NATS permission denied {{instance}}"), w=12),
        ]),
        ("DatabaseService: ingest", [
            graph("Ingest rate by subject",
                  "Events applied to the database per second, by subject; redelivered duplicates"
                  " (recognised and skipped) separately.",
                  per_second("rosey_events_processed_total", "{{subject}}", by="subject"),
                  per_second("rosey_events_redelivered_total", "redelivered (skipped)"),
                  unit="ops", w=12),
            graph("End-to-end latency",
                  "From the event's own timestamp (or its stream time) to its commit in SQLite.",
                  *quantiles("rosey_event_e2e_seconds", 0.5, 0.95, 0.99), unit="s", w=12),
            graph("Consumer pending",
                  "Events in the ROSEY_EVENTS stream not yet delivered to the DatabaseService's"
                  " durable consumer (refreshed every few seconds). Alert:"
                  " RoseyConsumerFallingBehind (> 1000 for 5m).",
                  q("rosey_consumer_pending", "{{instance}}")),
            graph("Commit latency", "Time to apply and commit one batch in one SQLite transaction.",
                  *quantiles("rosey_db_commit_seconds", 0.5, 0.95, 0.99), unit="s"),
            graph("Batch size", "Events per committed batch: mean and p95.",
                  q(f"sum(rate(rosey_db_batch_size_sum[{RATE}]))"
                    f" / sum(rate(rosey_db_batch_size_count[{RATE}]))", "mean"),
                  *quantiles("rosey_db_batch_size", 0.95)),
            graph("Rejected events by reason",
                  "Events refused as bad input per interval, by reason (bad_json, missing_field,"
                  " wrong_type, unknown_subject, too_large...). apply_error: valid JSON the"
                  " database refused. Alert: RoseyEventsRejectedSpike (> 10 in 5m).",
                  increase("rosey_events_rejected_total", "reason", "{{reason}}"), bars=True),
            ranking("Rejected events by subject and reason (time range)",
                    "Which publisher to look at: rejected events in the selected time range by"
                    " subject and reason (subject 'unknown' = not a contract subject). Empty when"
                    " nothing was rejected.",
                    q(f"sort_desc(sum by (subject, reason) (increase(rosey_events_rejected_total"
                      f"[{RANGE}])) > 0)", "{{subject}} {{reason}}")),
            graph("Queries and apply errors",
                  "Query requests answered per second by outcome (ok, bad_request, error), and"
                  " batches rolled back because SQLite failed (alert: RoseyDatabaseApplyErrors).",
                  per_second("rosey_queries_total", "query {{outcome}}", by="outcome"),
                  per_second("rosey_db_apply_errors_total", "apply errors"), unit="ops"),
        ]),
        ("DatabaseService: backups and retention", [
            graph("Backup age",
                  "Seconds since the newest good backup, against twice the backup interval"
                  " (above it for 10m: RoseyBackupStale). docs/durability.md.",
                  q("rosey_backup_age_seconds", "age {{instance}}"),
                  q("2 * rosey_backup_interval_seconds > 0", "stale above {{instance}}"),
                  unit="s"),
            graph("Backups written and failed",
                  "Backups written per interval by target (dir, s3), and failures by reason"
                  " (missing, full, read_only, integrity, upload). Alert: RoseyBackupFailing.",
                  increase("rosey_backups_total", "target", "written {{target}}"),
                  increase("rosey_backup_failures_total", "reason", "failed {{reason}}"),
                  bars=True),
            graph("Newest backup size", "Bytes of the newest good backup (the database's size"
                  " when it was taken; the backup volume holds `keep` of them).",
                  q("rosey_backup_last_bytes", "{{instance}}"), unit="bytes"),
            big_number("Newest backup taken", "When the newest good backup was taken.",
                       q("max(rosey_backup_last_success_timestamp_seconds) * 1000", "taken"),
                       thresholds=steps((None, "blue"))).unit("dateTimeFromNow"),
            graph("Newest backup duration", "Time the newest backup took to write, check"
                  " (integrity_check) and upload.",
                  q("rosey_backup_last_duration_seconds", "{{instance}}"), unit="s", w=6),
            graph("Newest backup stream sequence", "The stream sequence the newest backup"
                  " covers: a restore replays the stream from there.",
                  q("rosey_backup_last_stream_sequence", "{{instance}}"), w=6),
            graph("Pruned rows and replay gaps",
                  "Rows deleted by retention per interval, by table; events a restored or lost"
                  " database missed that the stream no longer held (replay gap: lost for good).",
                  increase("rosey_db_rows_pruned_total", "table", "pruned {{table}}"),
                  q(f"sum(increase(rosey_db_replay_gap_events_total[{RATE}]))", "replay gap"),
                  bars=True),
        ]),
        ("Bot: moderation and channel", [
            graph("Moderator commands by result",
                  "Moderator PM commands per interval, by result (success, error). Unknown"
                  " commands count as command=unknown, result=error. Also the web page's login"
                  " links (weblogin): issued, redeemed, refused (docs/web.md).",
                  increase("rosey_pm_commands_total", "result", "{{result}}"),
                  increase("rosey_bot_web_links_total", "event", "web login links {{event}}"),
                  bars=True),
            ranking("Moderator commands by command (time range)",
                    "Commands run in the selected time range, by command and result. Empty when"
                    " none ran.",
                    q(f"sort_desc(sum by (command, result) (increase(rosey_pm_commands_total"
                      f"[{RANGE}])) > 0)", "{{command}} {{result}}")),
            graph("Moderator command latency",
                  "Time to run a moderator command and send its reply.",
                  *quantiles("rosey_pm_command_seconds", 0.5, 0.95), unit="s"),
            graph("Channel users and chat",
                  "Users in the channel's userlist and chat messages per second seen by the bot"
                  " (history replay excluded).",
                  q("rosey_channel_users", "users {{instance}}"),
                  per_second("rosey_chat_messages_total", "chat messages/s"), w=12, h=7),
            graph("Bot queries to the DatabaseService by outcome",
                  "Requests the bot sent to the DatabaseService per second (moderator commands"
                  " and the outbound-message poll), by outcome: ok; not_connected (NATS is"
                  " down); no_responders (no DatabaseService running); timeout; bad_reply (broke"
                  " the wire contract); refused (the DatabaseService answered with an error).",
                  per_second("rosey_bot_queries_total", "{{outcome}}", by="outcome"),
                  unit="ops", stacked=True, w=12, h=7),
            graph("Bot rank and moderation",
                  "The bot's own effective rank in its channel (-1 before login, 2 = moderator)"
                  " and whether that rank and the channel's permissions allow every moderator"
                  " command (1) or some are refused before trying (0: the bot's status and"
                  " /readyz say which and why; e.g. an unregistered channel allows no kick,"
                  " mute or ban).",
                  q("rosey_bot_rank", "rank {{instance}}"),
                  q("rosey_bot_can_moderate", "can moderate {{instance}}"), w=12, h=7),
            graph("CyTube frames with a broken payload",
                  "CyTube events the bot reads whose payload broke their shape, per interval and"
                  " event name (CyTube's). The bot ignores them (WARNING line cytube_bad_frame),"
                  " so a burst means the server speaks a CyTube version the bot does not know"
                  " (docs/cytube-protocol.md).",
                  increase("rosey_cytube_bad_frames_total", "event", "{{event}}"), bars=True,
                  w=12, h=7),
        ]),
        ("Moderation", [
            graph("Moderation actions by kind and origin",
                  "Moderation actions recorded per interval (docs/moderation.md), by kind (kick,"
                  " ban, unban, mute, smute, unmute, warn, note, remove, flag) and origin:"
                  " command (a moderator's PM), native (a human moderator in CyTube, seen by"
                  " the bot), escalation (warnings added up), expiry (a timed punishment ran"
                  " out), automod (an automatic moderation rule, dry runs included).",
                  increase("rosey_moderation_actions_total", "action, origin",
                           "{{action}} ({{origin}})"), stacked=True, w=12, h=7),
            graph("Active timed punishments and lifts",
                  "Timed mutes, shadow-mutes and bans the bot has scheduled to lift, and lifts"
                  " per interval: on_time (within the grace of the expiry), late (the bot was"
                  " away when it ran out) and failed (the bot could not lift it: recorded,"
                  " reported, tried again at the next sync). Failed lifts mean someone stays"
                  " punished longer than meant.",
                  q("sum by (kind) (rosey_punishments_active)", "active {{kind}}"),
                  increase("rosey_punishment_lifts_total", "timing", "lifted {{timing}}"),
                  w=12, h=7),
        ]),
        ("Automatic moderation", [
            graph("Rule hits by rule and mode",
                  "Automatic moderation hits per interval (docs/automod.md), by rule and mode:"
                  " live (acted on) or dry (only recorded, dry_run or 'automod dry <rule>')."
                  " Hits within a rule's cooldown for the same user are not counted. Alert:"
                  " RoseyAutomodRuleSurge (one rule's live hits jump).",
                  increase("rosey_automod_hits_total", "rule, mode", "{{rule}} ({{mode}})"),
                  bars=True),
            ranking("Rule hits by action (time range)",
                    "Hits in the selected time range by action (log, warn, mute, smute, kick,"
                    " ban) and mode (live: done; dry: what would have been done). Empty when no"
                    " rule hit.",
                    q(f"sort_desc(sum by (action, mode) (increase(rosey_automod_hits_total"
                      f"[{RANGE}])) > 0)", "{{action}} ({{mode}})")),
            graph("Reversals by rule",
                  "Automatic mutes and bans a moderator lifted (by command or in CyTube) within"
                  " the rules file's reversal_window, per interval and rule. Reversals of one"
                  " rule mean the rule punishes people it should not. Alert:"
                  " RoseyAutomodReversalsJump (3 in an hour).",
                  increase("rosey_automod_reversals_total", "rule", "{{rule}}"), bars=True),
            graph("Rule evaluation time",
                  "Time to judge one chat line or playlist item against every rule in force"
                  " (p50, p99 across bots). Microseconds normally (bench/automod.py); nothing"
                  " while no rules are loaded or nobody chats.",
                  *quantiles("rosey_automod_eval_seconds", 0.5, 0.99), unit="s", h=7),
            graph("Rules in force and reloads",
                  "Rules in force per bot, and reloads of the rules file per interval: ok, or"
                  " failed (the file was refused and the rules from before stay in force; the"
                  " ERROR line automod_reload_failed and the 'automod' command say why). Alert:"
                  " RoseyAutomodReloadFailed.",
                  q("rosey_automod_rules", "rules {{instance}}"),
                  increase("rosey_automod_reloads_total", "instance, result",
                           "{{result}} reloads {{instance}}"), h=7),
            lanes("Raid mode",
                  "Per bot: on while raid mode holds CyTube's protections on (started by a"
                  " trigger or 'raid on'; ends after the raid section's calm without a trigger,"
                  " or 'raid off'). Alert: RoseyRaidModeLong (on for over an hour).",
                  q("rosey_raid_active", "{{instance}}"),
                  off=("off", "green"), on=("raid mode", "orange"), w=8),
        ]),
    ]


def build() -> dict[str, Any]:
    """The dashboard as the JSON object Grafana imports."""
    board = (dashboard.Dashboard("Rosey").uid("rosey")
             .description("Rosey: the CyTube bot, the DatabaseService and the JetStream path"
                          " between them. See docs/observability.md.")
             .tags(["rosey", "cytube", "nats"]).editable().tooltip(model.DashboardCursorSync.CROSSHAIR)
             .time("now-6h", "now").refresh("30s").timezone("").version(1).annotations([]).links([])
             .with_variable(dashboard.DatasourceVariable("datasource").label("Data source")
                            .type("prometheus").hide(model.VariableHide.DONT_HIDE).regex("")))
    panel_id = 0
    for title, panels in rows():
        panel_id += 1
        board = board.with_row(dashboard.Row(title).id(panel_id))
        for panel in panels:
            panel_id += 1
            board = board.with_panel(panel.id(panel_id))
    out: dict[str, Any] = json.loads(json.dumps(board.build(), cls=JSONEncoder))
    return out


def render() -> str:
    return json.dumps(build(), indent=2) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tools.dashboard", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--check", action="store_true", help="exit 1 when the JSON file is stale")
    p.add_argument("--output", type=Path, default=OUTPUT, help=f"default: {OUTPUT}")
    args = p.parse_args(argv)
    text = render()
    if args.check:
        current = args.output.read_text() if args.output.exists() else ""
        if current != text:
            print(f"{args.output} is stale: run python -m tools.dashboard", file=sys.stderr)
            return 1
        return 0
    args.output.write_text(text)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
