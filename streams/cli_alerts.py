"""The on-call engineer's commands, mounted on ``infersight`` by ``register``.

``infersight alerts list``                      rules, every series' state, active silences
``infersight alerts silence M [M ...] --for 2h`` mute alerts whose labels match every matcher
``infersight alerts unsilence ID``              end a silence now
``infersight alerts test CHANNEL [--resolve]``  send a sample alert through one channel
``infersight alerts check [FILE]``              validate a rules file and print its rules

Matchers are ``label=value``, ``label!=value``, ``label=~regex`` or ``label!~regex`` over the
alert's labels (rule, service, model, severity, owner, metric, and the rule's labels).
Silences are stored in ClickHouse (table ``silences``); the notify hop reads them before every
delivery. With the embedded engine, while a worker runs they go through it (it owns the
data directory and serves reads and silences); with none they open the directory.

Each handler takes the parsed arguments and, optionally, the ``Settings`` to use. Exit
status: 0 on success, 1 when a channel refused the test alert, 2 for bad input.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from sinks.tables import render_table

__all__ = ["cmd_check", "cmd_list", "cmd_silence", "cmd_test", "cmd_unsilence", "register"]


def _settings(settings: Any) -> Any:
    if settings is not None:
        return settings
    from streams.settings import load_settings

    return load_settings()


def _store(settings: Any) -> Any:
    from sinks.alert_store import AlertStore
    from streams.remote import RemoteAlertStore, RemoteSink, open_store

    sink = open_store(settings.clickhouse, "infersight alerts")
    if isinstance(sink, RemoteSink):  # the worker owns the directory: silences through it
        return RemoteAlertStore(sink)
    if settings.clickhouse.embedded:
        sink.migrate()
    return AlertStore(sink)


def _rule_rows(rules: Any) -> list[list[Any]]:
    return [
        [r.name, r.metric, f"{r.comparison} {r.threshold:g}", f"{r.window_s:g}s",
         f"{r.for_s:g}s", r.severity.value, ",".join(r.group_by) or "-",
         ",".join(r.route) or "all", r.owner or "-"]
        for r in rules
    ]  # fmt: skip


_RULE_COLUMNS = ["rule", "metric", "condition", "window", "for", "severity", "group_by",
                 "route", "owner"]  # fmt: skip


def cmd_check(args: argparse.Namespace, settings: Any = None) -> int:
    """Validate a rules file (default: the configured one) and print its rules."""
    from alerting.rulefile import DEFAULT_RULES_FILE, RuleFileError, load_rules
    from streams.app import CHANNELS

    settings = _settings(settings)
    path = args.file or settings.monitor.rules_file or DEFAULT_RULES_FILE
    try:
        ruleset = load_rules(path, settings.monitor.model_dump(), channels=CHANNELS)
    except RuleFileError as exc:
        print(f"infersight alerts check: {exc}", file=sys.stderr)
        return 2
    print(render_table(_RULE_COLUMNS, _rule_rows(ruleset.rules)))
    p = ruleset.retraining
    which = "every rule" if p.rules is None else ", ".join(sorted(p.rules))
    print(f"\nretraining: {which}; after {p.sustained_s:g}s firing; cooldown {p.cooldown_s:g}s "
          "per model")  # fmt: skip
    print(f"{path}: {len(ruleset.rules)} rules OK")
    return 0


def cmd_list(args: argparse.Namespace, settings: Any = None) -> int:
    """Rules, the state of every series (latest transition) and the active silences."""
    from alerting.dispatch import active_silences
    from alerting.rulefile import RuleFileError
    from streams.app import load_ruleset

    settings = _settings(settings)
    try:
        rules = load_ruleset(settings).rules
    except RuleFileError as exc:
        print(f"infersight alerts list: {exc}", file=sys.stderr)
        return 2
    store = _store(settings)
    states = store.series_states()
    wanted = set(args.state or [])
    series = [
        [rule, ",".join(f"{k}={v}" for k, v in labels.items()), state, f"{value:g}",
         firing or pending or "-", episode or "-"]
        for _fp, rule, labels, state, episode, pending, firing, _n, _s, value in states
        if not wanted or state in wanted
    ]  # fmt: skip
    series.sort(key=lambda r: (r[2] != "firing", r[0], r[1]))
    silences = active_silences(store)
    if args.format == "json":
        print(_list_json(rules, series, silences))
        return 0
    print(render_table(_RULE_COLUMNS, _rule_rows(rules)))
    print()
    if series:
        print(render_table(["rule", "series", "state", "value", "since", "episode"], series))
    else:
        print("no series evaluated yet")
    print()
    if silences:
        print(render_table(
            ["silence", "matchers", "until", "by", "comment"],
            [[s.silence_id, " ".join(str(m) for m in s.matchers), f"{s.ends_at:%Y-%m-%d %H:%M}Z",
              s.created_by or "-", s.comment or "-"] for s in silences],
        ))  # fmt: skip
    else:
        print("no active silences")
    return 0


def _list_json(rules: Any, series: list[list[Any]], silences: list[Any]) -> str:
    """``alerts list --format json``: rules, series states and silences as one object."""
    import json

    from streams.serve import silence_json

    out = {
        "rules": [dict(zip(_RULE_COLUMNS, r, strict=True)) for r in _rule_rows(rules)],
        "series": [
            dict(zip(["rule", "labels", "state", "value", "since", "episode_id"], r, strict=True))
            for r in series
        ],
        "silences": [silence_json(s) for s in silences],
    }
    return json.dumps(out, default=str)


def cmd_silence(args: argparse.Namespace, settings: Any = None) -> int:
    """Store a silence; prints its id (for ``unsilence``)."""
    from alerting.dispatch import Matcher, Silence
    from alerting.rulefile import parse_duration

    try:
        matchers = tuple(Matcher.parse(m) for m in args.matchers)
        duration = parse_duration(args.duration)
        if duration <= 0:
            raise ValueError(f"--for must be a positive duration, got {args.duration!r}")
        now = datetime.now(UTC)
        silence = Silence(matchers, now, now + timedelta(seconds=duration),
                          args.by or getpass.getuser(), args.comment or "")  # fmt: skip
    except ValueError as exc:
        print(f"infersight alerts silence: {exc}", file=sys.stderr)
        return 2
    _store(_settings(settings)).write_silence(silence)
    print(silence.silence_id)
    what = " ".join(str(m) for m in matchers)
    print(f"silenced {what} until {silence.ends_at:%Y-%m-%d %H:%M:%S}Z", file=sys.stderr)
    return 0


def cmd_unsilence(args: argparse.Namespace, settings: Any = None) -> int:
    """End an active silence now."""
    from alerting.dispatch import expire_silence

    if not expire_silence(_store(_settings(settings)), args.silence_id):
        print(f"infersight alerts unsilence: no active silence {args.silence_id!r} "
              "(`infersight alerts list` shows them)", file=sys.stderr)  # fmt: skip
        return 2
    print(f"silence {args.silence_id} ended")
    return 0


def cmd_test(args: argparse.Namespace, settings: Any = None) -> int:
    """Send a sample alert (and with --resolve its resolve) through one configured channel."""
    from alerting.channels import AlertGroup, DeliveryError
    from alerting.dispatch import sample_alert
    from schemas.results import AlertStatus
    from streams.app import build_notifiers

    settings = _settings(settings)
    notifiers = {n.name: n for n in build_notifiers(settings.alerts)}
    if args.channel not in notifiers:
        configured = ", ".join(sorted(notifiers)) or "none"
        print(f"infersight alerts test: channel {args.channel!r} is not configured "
              f"(configured: {configured}; set INFERSIGHT_ALERTS_* )", file=sys.stderr)  # fmt: skip
        return 2
    notifier = notifiers[args.channel]
    firing = sample_alert()
    sends = [firing]
    if args.resolve:
        sends.append(firing.model_copy(update={
            "status": AlertStatus.RESOLVED, "alert_id": firing.alert_id[:-4] + "0000",
            "summary": "TEST from infersight: resolved",
        }))  # fmt: skip

    async def send() -> None:
        async with notifier:
            for a in sends:
                await notifier.send_group(AlertGroup(a.rule, a.status, (a,)))

    try:
        asyncio.run(send())
    except DeliveryError as exc:
        print(f"infersight alerts test: {exc}", file=sys.stderr)
        return 1
    print(f"sent {len(sends)} test notification(s) through {notifier!r}")
    return 0


def register(sub: Any) -> None:
    """Add ``alerts`` and its subcommands to the ``infersight`` subparsers."""
    alerts = sub.add_parser("alerts", help="alert rules, states, silences, channel tests")
    asub = alerts.add_subparsers(dest="alerts_command", required=True)

    ls = asub.add_parser("list", help="rules, series states and active silences")
    ls.add_argument("--state", action="append",
                    choices=["ok", "pending", "firing", "resolved", "no_data"],
                    help="only series in this state (repeatable)")  # fmt: skip
    ls.add_argument("--format", choices=["table", "json"], default="table")
    ls.set_defaults(func=cmd_list)

    si = asub.add_parser("silence", help="mute alerts matching every matcher for a while")
    si.add_argument("matchers", nargs="+", help="label=value, label!=value, label=~re, label!~re")
    si.add_argument("--for", dest="duration", default="2h", help="how long: 30m, 2h, 1d (2h)")
    si.add_argument("--comment", default="", help="why (shown in `alerts list`)")
    si.add_argument("--by", default="", help="who (default: the login name)")
    si.set_defaults(func=cmd_silence)

    un = asub.add_parser("unsilence", help="end a silence now")
    un.add_argument("silence_id")
    un.set_defaults(func=cmd_unsilence)

    te = asub.add_parser("test", help="send a sample alert through one channel")
    te.add_argument("channel", choices=["webhook", "slack", "pagerduty", "alertmanager"])
    te.add_argument("--resolve", action="store_true", help="follow with its resolve")
    te.set_defaults(func=cmd_test)

    ch = asub.add_parser("check", help="validate a rules file")
    ch.add_argument("file", nargs="?", help="default: INFERSIGHT_MONITOR_RULES_FILE or built-in")
    ch.set_defaults(func=cmd_check)
