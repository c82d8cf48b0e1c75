"""The alert state machine: evaluate rules at a time, keep each series' state, decide what
pages and when to ask for retraining.

States of one series (rule × group labels)::

    OK ──breach──▶ PENDING ──breached for `for`──▶ FIRING ──clear──▶ RESOLVED
     ▲               │ clear                          │ no data        │ breach: new episode
     └───────────────┘                                ▼                ▼
                          NO_DATA (no rows in the window; per rule: resolve, keep or alert)

An ``Alert`` is emitted when a series starts FIRING, when it RESOLVES, every ``renotify``
interval while it keeps firing, and (``no_data: alert``) when its data stops. Alert ids are
derived from (episode, status, sequence), so a re-evaluation or a replayed message carries the
same id and every consumer can deduplicate. Every state change is a ``Transition``; the caller
stores them (``sinks.alert_store``, table ``alert_states``) and a restarted engine rebuilds its
state from them with ``restore``: no second page for an episode already paged.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta  # noqa: F401 - UTC is used by the doctests
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from alerting.metrics import EVENT_DIMENSIONS
from alerting.rules import RetrainPolicy, Rule
from schemas.results import Alert, AlertStatus, RetrainingEvent
from sinks.sql import aware, optional_time, sql_literal, time_literal

if TYPE_CHECKING:
    from sinks.alert_store import AlertStore

__all__ = ["Evaluation", "Query", "RuleEngine", "SeriesState", "State", "Transition"]

Query = Callable[[str], Sequence[Sequence[Any]]]


class State(StrEnum):
    OK = "ok"
    PENDING = "pending"
    FIRING = "firing"
    RESOLVED = "resolved"
    NO_DATA = "no_data"


@dataclass
class SeriesState:
    """Where one series stands; every field is stored with each transition."""

    rule: str
    labels: dict[str, str]
    state: State = State.OK
    episode_id: str = ""
    pending_since: datetime | None = None
    since: datetime | None = None  # firing since
    notified_at: datetime | None = None
    notify_seq: int = 0
    retrained: bool = False
    value: float = 0.0

    @property
    def service(self) -> str:
        return self.labels.get("service", "*")

    @property
    def model(self) -> str:
        return self.labels.get("model", "*")


@dataclass(frozen=True)
class Transition:
    """One state change (or re-notification) of one series, as stored in ``alert_states``."""

    fingerprint: str
    rule: str
    labels: dict[str, str]
    from_state: State
    to_state: State
    episode_id: str
    value: float
    threshold: float
    at: datetime
    step: int
    reason: str
    alert_id: str
    pending_since: datetime | None
    firing_since: datetime | None
    notified_at: datetime | None
    notify_seq: int


class Evaluation(tuple):  # noqa: SLOT001 - a named 3-tuple without NamedTuple's generics
    """``(alerts, retraining, transitions)`` of one evaluation."""

    __slots__ = ()

    def __new__(
        cls, alerts: list[Alert], retraining: list[RetrainingEvent], transitions: list[Transition]
    ) -> Evaluation:
        return super().__new__(cls, (alerts, retraining, transitions))

    @property
    def alerts(self) -> list[Alert]:
        return self[0]

    @property
    def retraining(self) -> list[RetrainingEvent]:
        return self[1]

    @property
    def transitions(self) -> list[Transition]:
        return self[2]


@dataclass
class RuleEngine:
    """Evaluate rules, track each series' state, decide on retraining.

    Parameters
    ----------
    rules
        The rules; each is evaluated over every group with data in its window.
    renotify_s
        Re-send a still-firing alert this often (0: never); a rule's ``renotify`` overrides.
    policy
        Which rules retrain, after how long firing, how often per model; default: every
        rule, after 900 s firing, once a day per model.
    max_series
        Series one rule evaluates at most, breaching ones first (a model name per request
        would otherwise make a series per event). A rule cut short is in ``truncated`` after
        the evaluation, and none of its series is declared quiet that round. A series quiet
        for two rounds is forgotten (unless ``no_data: alert`` keeps its episode open); its
        transition to no data is stored, and it starts afresh when its data comes back.

    Examples
    --------
    >>> engine = RuleEngine([Rule("leaks", "pii_leaks", 3, ">=")])
    >>> now = datetime(2026, 1, 1, tzinfo=UTC)
    >>> ev = engine.evaluate(now, lambda sql: [("bot", "gpt-4o", 4.0, 10, ["e1"])])
    >>> [(a.status.value, a.value) for a in ev.alerts]
    [('firing', 4.0)]
    """

    rules: Sequence[Rule]
    renotify_s: float = 0.0
    policy: RetrainPolicy = field(default_factory=RetrainPolicy)
    states: dict[str, SeriesState] = field(default_factory=dict)
    last_retrain: dict[str, datetime] = field(default_factory=dict)
    retrained_episodes: set[str] = field(default_factory=set)
    #: The latest evidence sentence per series for metrics that have one (drift's reason).
    notes: dict[str, str] = field(default_factory=dict)
    max_series: int = 1000
    #: Rules the last evaluation cut at ``max_series``, with the series it kept.
    truncated: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        names = [r.name for r in self.rules]
        if len(set(names)) != len(names):
            msg = f"rule names must be unique, got {names}"
            raise ValueError(msg)
        if self.renotify_s < 0:
            msg = f"renotify_s must be >= 0, got {self.renotify_s!r}"
            raise ValueError(msg)
        self._step_no = 0

    @staticmethod
    def fingerprint(rule: str, labels: Mapping[str, str] | str, model: str | None = None) -> str:
        """Stable id of one series (``fingerprint(rule, service, model)`` also accepted)."""
        if isinstance(labels, str):
            labels = {"service": labels, "model": model or ""}
        return Alert.fingerprint_of(rule, dict(labels))

    # -- restore -------------------------------------------------------------------------
    def restore(
        self,
        states: Iterable[Sequence[Any]],
        retraining: Iterable[Sequence[Any]] = (),
    ) -> None:
        """Rebuild state from stored rows (``RESTORE_STATES_SQL``, ``RESTORE_RETRAINING_SQL``).

        States of rules no longer configured are dropped; a series restored as FIRING does
        not page again for its episode.
        """
        rules = {r.name for r in self.rules}
        for fp, rule, labels, state, episode, pending, since, notified, seq, value in states:
            if rule not in rules:
                continue
            times = (optional_time(pending), optional_time(since), optional_time(notified))
            self.states[fp] = SeriesState(
                rule, dict(labels), State(state), episode, *times, int(seq), value=float(value)
            )
        for model, created, triggered in retraining:
            self.last_retrain[model] = aware(created)
            self.retrained_episodes.update(t.split(":", 1)[-1] for t in triggered)
        for st in self.states.values():
            st.retrained = st.episode_id in self.retrained_episodes

    def restore_from(self, store: AlertStore) -> int:
        """Rebuild state from the alerting tables; returns the number of series restored."""
        self.restore(store.series_states(), store.retraining_history())
        return len(self.states)

    # -- evaluate ------------------------------------------------------------------------
    def evaluate(self, now: datetime, query: Query) -> Evaluation:
        """Run every rule once at ``now``; return alerts, retraining events and transitions."""
        out = Evaluation([], [], [])
        self.truncated = {}
        for rule in self.rules:
            start, end = rule.window(now)
            seen: set[str] = set()
            rows = list(query(self._bounded(rule, rule.render(start, end))))
            if len(rows) > self.max_series:
                rows = rows[: self.max_series]
                self.truncated[rule.name] = self.max_series
            for row in rows:
                n = len(rule.group_by)
                labels = {d: str(v) for d, v in zip(rule.group_by, row[:n], strict=True)}
                value, events, samples = row[n], int(row[n + 1]), list(row[n + 2])
                if events == 0:  # an ungrouped aggregate over nothing: no data
                    continue
                value = float(value)
                fp = self.fingerprint(rule.name, labels)
                if rule.metric_def.note:
                    self.notes[fp] = str(row[n + 3] or "")
                seen.add(fp)
                breached = events >= rule.min_events and rule.breached(value)
                self._step(rule, fp, labels, value, breached, start, now, samples, out)
            if rule.name in self.truncated:
                continue  # the series beyond the cut are not quiet, only unread
            for fp, st in list(self.states.items()):
                if st.rule == rule.name and fp not in seen:
                    self._no_data(rule, fp, st, start, now, out)
        return out

    def _bounded(self, rule: Rule, sql: str) -> str:
        """A grouped rule's SQL, breaching series first, at most ``max_series`` + 1 rows."""
        if not rule.group_by:
            return sql
        cmp = "=" if rule.comparison == "==" else rule.comparison
        threshold = rule.threshold if math.isfinite(rule.threshold) else 0.0
        breach = f"(events >= {int(rule.min_events)} AND value {cmp} {threshold!r})"
        return f"{sql} ORDER BY {breach} DESC, events DESC LIMIT {int(self.max_series) + 1}"

    def _transition(
        self, rule: Rule, fp: str, st: SeriesState, to: State, now: datetime, reason: str,
        out: Evaluation, alert: Alert | None = None,
    ) -> None:  # fmt: skip
        before = st.state
        st.state = to
        if alert is not None:
            out.alerts.append(alert)
        self._step_no += 1
        out.transitions.append(
            Transition(
                fp,
                rule.name,
                dict(st.labels),
                before,
                to,
                st.episode_id,
                st.value,
                rule.threshold,
                now,
                self._step_no,
                reason,
                alert.alert_id if alert else "",
                st.pending_since,
                st.since,
                st.notified_at,
                st.notify_seq,
            )  # fmt: skip
        )

    def _step(
        self, rule: Rule, fp: str, labels: dict[str, str], value: float, breached: bool,
        start: datetime, now: datetime, samples: list[str], out: Evaluation,
    ) -> None:  # fmt: skip
        st = self.states.get(fp)
        if st is None:
            st = self.states[fp] = SeriesState(rule.name, labels)
        st.value = value
        if st.state is State.NO_DATA and st.since is not None and rule.no_data == "alert":
            # Data is back: the no-data episode resolves before anything else.
            alert = self._alert(rule, fp, st, AlertStatus.RESOLVED, start, now, samples, "data")
            st.since = None
            self._transition(rule, fp, st, State.OK, now, "data is back", out, alert)
        if breached:
            if st.state in (State.OK, State.RESOLVED, State.NO_DATA):
                st.pending_since, st.since, st.notify_seq, st.notified_at = now, None, 0, None
                st.episode_id = f"{fp}-{int(now.timestamp())}"
                st.retrained = False
                if rule.for_s > 0:
                    self._transition(rule, fp, st, State.PENDING, now, "breach began", out)
                    return
            if st.state is State.PENDING or st.since is None:
                assert st.pending_since is not None
                if (now - st.pending_since).total_seconds() < rule.for_s:
                    return
                st.since = st.notified_at = now
                alert = self._alert(rule, fp, st, AlertStatus.FIRING, start, now, samples)
                self._transition(rule, fp, st, State.FIRING, now, "breach held", out, alert)
                return
            # FIRING and still breached: remind, and perhaps retrain.
            every = rule.renotify_s if rule.renotify_s is not None else self.renotify_s
            if every and st.notified_at and (now - st.notified_at).total_seconds() >= every:
                st.notify_seq += 1
                st.notified_at = now
                alert = self._alert(rule, fp, st, AlertStatus.FIRING, start, now, samples)
                self._transition(rule, fp, st, State.FIRING, now, "renotify", out, alert)
            self._maybe_retrain(rule, st, start, now, out)
            return
        if st.state is State.PENDING:
            self._transition(rule, fp, st, State.OK, now, "cleared before firing", out)
        elif st.state is State.FIRING:
            alert = self._alert(rule, fp, st, AlertStatus.RESOLVED, start, now, samples)
            self._transition(rule, fp, st, State.RESOLVED, now, "cleared", out, alert)
        elif st.state is State.NO_DATA:
            self._transition(rule, fp, st, State.OK, now, "data is back", out)

    def _no_data(
        self, rule: Rule, fp: str, st: SeriesState, start: datetime, now: datetime,
        out: Evaluation,
    ) -> None:  # fmt: skip
        if st.state is State.NO_DATA:
            if rule.no_data != "alert" or st.since is None:
                del self.states[fp]  # quiet for a second round, nothing open: forgotten
                self.notes.pop(fp, None)
            return
        st.value = 0.0
        if st.state is State.FIRING:
            if rule.no_data == "keep":
                return
            alert = self._alert(rule, fp, st, AlertStatus.RESOLVED, start, now, [], "no data")
            self._transition(rule, fp, st, State.NO_DATA, now, "no data: resolved", out, alert)
            st.since = None
            if rule.no_data != "alert":
                return
        elif st.state is State.PENDING:
            st.since = None
        # A quiet series: with no_data=alert it pages (its own episode), else it just waits.
        if rule.no_data == "alert":
            st.episode_id = f"{fp}-nodata-{int(now.timestamp())}"
            st.since = st.notified_at = now
            st.notify_seq = 0
            alert = self._alert(rule, fp, st, AlertStatus.FIRING, start, now, [], "no data")
            self._transition(rule, fp, st, State.NO_DATA, now, "no data", out, alert)
        elif st.state is not State.NO_DATA:
            st.since = None
            self._transition(rule, fp, st, State.NO_DATA, now, "no data", out)

    def _alert(
        self, rule: Rule, fp: str, st: SeriesState, status: AlertStatus, start: datetime,
        now: datetime, samples: list[str], condition: str = "",
    ) -> Alert:  # fmt: skip
        summary = _summary(rule, st, status, f"{(now - start).total_seconds():g}s", condition)
        labels = {**rule.labels, **st.labels, "rule": rule.name, "metric": rule.metric,
                  "severity": rule.severity.value}  # fmt: skip
        if rule.owner:
            labels["owner"] = rule.owner
        if rule.route:
            labels["route"] = ",".join(rule.route)
        if condition == "no data" and status is AlertStatus.FIRING:
            labels["alertstate"] = "no_data"
        note = self.notes.get(fp, "") if status is AlertStatus.FIRING else ""
        if note:
            summary = f"{summary}. {note}"
        seq = st.notify_seq if status is AlertStatus.FIRING else 0
        alert_id = hashlib.sha256(f"{st.episode_id}|{status.value}|{seq}".encode()).hexdigest()
        return Alert(
            alert_id=f"{alert_id[:8]}-{alert_id[8:12]}-{alert_id[12:16]}-{alert_id[16:20]}-"
            f"{alert_id[20:32]}",
            fingerprint=fp,
            episode_id=st.episode_id,
            rule=rule.name,
            status=status,
            severity=rule.severity,
            service=st.service,
            model=st.model,
            summary=summary,
            value=st.value,
            threshold=rule.threshold,
            window_start=start,
            window_end=now,
            labels=labels,
            sample_event_ids=samples,
            evidence_sql=rule.render(start, now, st.labels),
            runbook_url=rule.runbook_url,
            created_at=now,
        )

    def _maybe_retrain(
        self, rule: Rule, st: SeriesState, start: datetime, now: datetime, out: Evaluation
    ) -> None:
        policy = self.policy
        if not policy.applies(rule.name) or "model" not in st.labels:
            return
        if st.retrained or st.since is None or st.episode_id in self.retrained_episodes:
            return
        if (now - st.since).total_seconds() < policy.sustained_s:
            return
        last = self.last_retrain.get(st.model)
        if last is not None and (now - last).total_seconds() < policy.cooldown_s:
            return
        st.retrained = True
        self.retrained_episodes.add(st.episode_id)
        self.last_retrain[st.model] = now
        since = st.pending_since or st.since
        first = since - timedelta(seconds=rule.window_s)
        out.retraining.append(
            RetrainingEvent(
                retraining_id=hashlib.sha256(st.episode_id.encode()).hexdigest()[:16],
                service=st.service,
                model=st.model,
                reason=(
                    f"{rule.name} has fired for {(now - st.since).total_seconds():.0f}s "
                    f"({rule.metric_def.description}: {st.value:g} {rule.comparison} "
                    f"{rule.threshold:g})"
                ),
                triggered_by=f"{rule.name}:{st.episode_id}",
                since=since,
                window_start=first,
                window_end=now,
                statistics={
                    "value": st.value,
                    "threshold": rule.threshold,
                    "firing_s": (now - st.since).total_seconds(),
                    "window_s": (now - start).total_seconds(),
                },
                selection_sql=_selection_sql(rule, st, first, now),
                created_at=now,
            )
        )

    def snapshot(self) -> Any:
        """A copy of the mutable state, to roll back an evaluation that was not stored."""
        return (
            {k: replace(v, labels=dict(v.labels)) for k, v in self.states.items()},
            dict(self.last_retrain),
            set(self.retrained_episodes),
        )

    def rollback(self, snap: Any) -> None:
        self.states, self.last_retrain, self.retrained_episodes = snap


def _summary(rule: Rule, st: SeriesState, status: AlertStatus, window: str, condition: str) -> str:
    """The sentence an on-call engineer reads first."""
    metric = rule.metric_def
    series = "/".join(st.labels.values()) or "all"
    if condition == "no data" and status is AlertStatus.FIRING:
        summary = f"{rule.name}: no data for {series} in the last {window}"
    elif status is AlertStatus.FIRING:
        again = f" (reminder {st.notify_seq})" if st.notify_seq else ""
        summary = (
            f"{rule.name}: {metric.description} for {series} is {st.value:g}, "
            f"{rule.comparison} {rule.threshold:g} over the last {window}{again}"
        )
    elif condition == "no data":
        summary = f"{rule.name} resolved for {series}: no data in the last {window}"
    elif condition == "data":
        summary = f"{rule.name} resolved for {series}: data is flowing again"
    else:
        summary = (
            f"{rule.name} resolved for {series}: {metric.description} is {st.value:g}, "
            f"no longer {rule.comparison} {rule.threshold:g}"
        )
    return summary


def _selection_sql(rule: Rule, st: SeriesState, first: datetime, now: datetime) -> str:
    """The events a retraining job should read: the series' events of the episode."""
    time_cond = f"timestamp >= {time_literal(first)} AND timestamp < {time_literal(now)}"
    conds = [
        f"{rule.metric_def.dimension_sql(k)} = {sql_literal(v)}"
        for k, v in st.labels.items()
        if k in EVENT_DIMENSIONS or k.startswith("metadata.")
    ]
    conds.append(time_cond)
    if rule.metric_def.examples:
        conds.append(rule.metric_def.examples.format(time=time_cond, value=repr(rule.threshold)))
    return f"SELECT * FROM events_v WHERE {' AND '.join(conds)}"
