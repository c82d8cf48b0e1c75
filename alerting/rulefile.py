"""The rules file: YAML in, a validated ``RuleSet`` out, or a ``RuleFileError`` that names the
file, the rule and the key.

Reading order: ``load_rules`` (the file), then the small parsers it calls: ``_read``
(YAML, top-level keys, defaults), ``_rule_kwargs`` (one rule's keys, typed),
``_retrain_policy`` (the ``retraining`` section). ``parse_duration`` reads ``90``,
``"90s"``, ``"5m"``, ``"1.5h"``, ``"1d"``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from alerting.rules import RetrainPolicy, Rule, RuleSet
from schemas.errors import InfersightError
from schemas.results import Severity

__all__ = ["DEFAULT_RULES_FILE", "RuleFileError", "load_rules", "parse_duration"]

DEFAULT_RULES_FILE = Path(__file__).with_name("alert_rules.yaml")


class RuleFileError(InfersightError, ValueError):
    """A rules file that cannot be used; the message names the file, the rule and the key."""


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86_400.0, None: 1.0}


def parse_duration(value: Any) -> float:
    """Seconds from ``90``, ``"90s"``, ``"5m"``, ``"1.5h"``, ``"1d"``.

    >>> parse_duration("5m"), parse_duration(30), parse_duration("1d")
    (300.0, 30.0, 86400.0)
    """
    if isinstance(value, bool):
        raise ValueError(f"expected a duration like 30s, 5m, 1h, got {value!r}")
    if isinstance(value, int | float):
        return float(value)
    m = _DURATION.match(str(value))
    if not m:
        raise ValueError(f"expected a duration like 30s, 5m, 1h, got {value!r}")
    return float(m[1]) * _UNITS[m[2]]


_RULE_KEYS = {
    "name", "metric", "threshold", "comparison", "severity", "window", "for", "min_events",
    "group_by", "where", "labels", "owner", "route", "runbook_url", "params", "no_data",
    "renotify", "description",
}  # fmt: skip
_VAR = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")
_DURATIONS = (("window", "window_s"), ("for", "for_s"), ("renotify", "renotify_s"))


class _File:
    """Error messages and ``${name}`` substitution for one file."""

    def __init__(self, path: Path, variables: Mapping[str, Any]) -> None:
        self.path = path
        self.variables = dict(variables)

    def fail(self, where: str, key: str | None, problem: str) -> RuleFileError:
        at = f"{self.path}: {where}" + (f": key {key!r}" if key else "")
        return RuleFileError(f"{at}: {problem}")

    def subst(self, where: str, key: str, value: Any) -> Any:
        if isinstance(value, str) and (m := _VAR.match(value)):
            if m[1] not in self.variables:
                known = sorted(self.variables)
                raise self.fail(where, key, f"unknown variable ${{{m[1]}}}; known: {known}")
            return self.variables[m[1]]
        return value


def load_rules(
    path: str | Path, variables: Mapping[str, Any] | None = None, channels: Iterable[str] = ()
) -> RuleSet:
    """Read and validate a rules file; raise ``RuleFileError`` naming file, rule and key.

    A value written ``${name}`` is replaced by ``variables[name]`` (the monitor settings), so
    the packaged defaults follow ``INFERSIGHT_MONITOR_*``. ``channels``, when given, are the
    channel names a ``route`` may use.
    """
    f = _File(Path(path), variables or {})
    doc, defaults, raw_rules = _read(f)
    known_channels = set(channels)
    rules: list[Rule] = []
    for i, raw in enumerate(raw_rules):
        rule = _rule(f, i, raw, defaults)
        where = f"rule {raw.get('name', '?')!r} (rules[{i}])"
        if known_channels:
            stray = [c for c in rule.route if c not in known_channels]
            if stray:
                raise f.fail(where, "route", f"unknown channel(s) {stray}; known: "
                             f"{sorted(known_channels)}")  # fmt: skip
        if any(r.name == rule.name for r in rules):
            raise f.fail(where, "name", "duplicate rule name")
        rules.append(rule)
    return RuleSet(tuple(rules), _retrain_policy(f, doc.get("retraining") or {}, rules))


def _read(f: _File) -> tuple[dict[str, Any], dict[str, Any], list[Any]]:
    """The document, its ``defaults`` and its ``rules`` list, checked at the top level."""
    import yaml

    try:
        doc = yaml.safe_load(f.path.read_text())
    except OSError as exc:
        raise RuleFileError(f"{f.path}: cannot read rules file: {exc}") from None
    except yaml.YAMLError as exc:
        raise RuleFileError(f"{f.path}: not valid YAML: {exc}") from None
    if not isinstance(doc, dict):
        raise f.fail("top level", None, "must be a mapping with a 'rules' list")
    unknown_top = sorted(set(doc) - {"defaults", "rules", "retraining"})
    if unknown_top:
        raise f.fail(
            "top level", unknown_top[0], "unknown key; allowed: defaults, rules, retraining"
        )
    defaults = doc.get("defaults") or {}
    if not isinstance(defaults, dict) or set(defaults) - (_RULE_KEYS - {"name", "metric"}):
        raise f.fail("defaults", None, f"must be a mapping of rule keys, got {defaults!r}")
    raw_rules = doc.get("rules")
    if not isinstance(raw_rules, list) or not raw_rules:
        raise f.fail("top level", "rules", "must be a non-empty list of rules")
    return doc, defaults, raw_rules


def _rule(f: _File, i: int, raw: Any, defaults: Mapping[str, Any]) -> Rule:
    """One entry of ``rules``, merged over the defaults, substituted and validated."""
    if not isinstance(raw, dict):
        raise f.fail(f"rules[{i}]", None, f"must be a mapping, got {raw!r}")
    where = f"rule {raw.get('name', '?')!r} (rules[{i}])"
    unknown = sorted(set(raw) - _RULE_KEYS)
    if unknown:
        raise f.fail(where, unknown[0], f"unknown key; allowed: {sorted(_RULE_KEYS)}")
    spec = {k: f.subst(where, k, v) for k, v in {**defaults, **raw}.items()}
    for req in ("name", "metric", "threshold"):
        if req not in spec:
            raise f.fail(where, req, "is required")
    kw: dict[str, Any] = {}
    key = "name"
    try:
        for key, parse in _PARSERS:
            parse(kw, key, spec, lambda k, v: f.subst(where, k, v))
    except (TypeError, ValueError) as exc:
        raise f.fail(where, key, str(exc)) from None
    try:
        return Rule(**kw)
    except ValueError as exc:
        text = str(exc)
        m = re.match(r"rule '.*?': ([\w.]+): (.*)$", text, re.S)
        raise f.fail(where, m[1] if m else None, m[2] if m else text) from None


_Subst = Callable[[str, Any], Any]


def _text(kw: dict[str, Any], key: str, spec: Mapping[str, Any], _: _Subst) -> None:
    if key in spec:
        kw[key] = str(spec[key])


def _threshold(kw: dict[str, Any], key: str, spec: Mapping[str, Any], _: _Subst) -> None:
    kw["threshold"] = float(spec["threshold"])


def _duration(kw: dict[str, Any], key: str, spec: Mapping[str, Any], _: _Subst) -> None:
    if key in spec:
        kw[dict(_DURATIONS)[key]] = parse_duration(spec[key])


def _severity(kw: dict[str, Any], key: str, spec: Mapping[str, Any], _: _Subst) -> None:
    if key in spec:
        kw[key] = Severity(str(spec[key]).lower())


def _min_events(kw: dict[str, Any], key: str, spec: Mapping[str, Any], _: _Subst) -> None:
    if key in spec:
        if not isinstance(spec[key], int):
            raise ValueError(f"must be an integer, got {spec[key]!r}")
        kw[key] = spec[key]


def _names(kw: dict[str, Any], key: str, spec: Mapping[str, Any], _: _Subst) -> None:
    if key in spec:
        value = spec[key]
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError(f"must be a list of names, got {value!r}")
        kw[key] = tuple(value)


def _mapping(kw: dict[str, Any], key: str, spec: Mapping[str, Any], subst: _Subst) -> None:
    if key not in spec:
        return
    value = spec[key]
    if not isinstance(value, dict):
        raise ValueError(f"must be a mapping, got {value!r}")
    value = {str(k): subst(f"{key}.{k}", v) for k, v in value.items()}
    if key == "labels":
        value = {k: str(v) for k, v in value.items()}
    if key == "where":
        value = {
            k: tuple(str(x) for x in v) if isinstance(v, list) else str(v) for k, v in value.items()
        }
    kw[key] = value


# In this order, so an error names the same key as before the split.
_PARSERS: tuple[tuple[str, Callable[..., None]], ...] = (
    ("name", _text),
    ("metric", _text),
    ("threshold", _threshold),
    *((key, _duration) for key, _ in _DURATIONS),
    ("severity", _severity),
    ("min_events", _min_events),
    *((key, _text) for key in ("comparison", "owner", "runbook_url", "no_data", "description")),
    ("group_by", _names),
    ("route", _names),
    *((key, _mapping) for key in ("labels", "where", "params")),
)


def _retrain_policy(f: _File, retrain: Any, rules: list[Rule]) -> RetrainPolicy:
    """The ``retraining`` section: which rules, after how long firing, how often per model."""
    if not isinstance(retrain, dict):
        raise f.fail("retraining", None, "must be a mapping")
    stray = sorted(set(retrain) - {"rules", "sustained", "cooldown"})
    if stray:
        raise f.fail("retraining", stray[0], "unknown key; allowed: rules, sustained, cooldown")
    policy_kw: dict[str, Any] = {}
    for key, attr in (("sustained", "sustained_s"), ("cooldown", "cooldown_s")):
        if key in retrain:
            try:
                policy_kw[attr] = parse_duration(f.subst("retraining", key, retrain[key]))
            except ValueError as exc:
                raise f.fail("retraining", key, str(exc)) from None
    if "rules" in retrain:
        names = retrain["rules"]
        if not isinstance(names, list):
            raise f.fail("retraining", "rules", f"must be a list of rule names, got {names!r}")
        by_name = {r.name: r for r in rules}
        for n in names:
            if n not in by_name:
                raise f.fail("retraining", "rules", f"unknown rule {n!r}")
            if "model" not in by_name[n].group_by:
                raise f.fail("retraining", "rules", f"rule {n!r} must group_by model to retrain")
        policy_kw["rules"] = frozenset(names)
    return RetrainPolicy(**policy_kw)
