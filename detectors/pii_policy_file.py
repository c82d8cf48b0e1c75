"""Reading and validating a PII leak policy file (YAML, per service; see detectors.pii_policy).

A file has a ``default`` block and optional ``services``; each service block overrides the
default key by key. Validation happens when the worker starts: an unknown key, kind, type or
severity raises ``PolicyFileError`` naming the file, the block and the key.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from detectors.pii_policy import (
    DEFAULT_POLICY_FILE,
    KINDS,
    KNOWN_TYPES,
    SEVERITIES,
    LeakPolicy,
)
from schemas.errors import InfersightError

__all__ = ["PolicyFile", "PolicyFileError", "load_policy"]


class PolicyFileError(InfersightError, ValueError):
    """A policy file that cannot be used; the message names the file, the block and the key."""


_FILE_KEYS = {
    "page", "severity", "personal_types", "invented_types", "identity_metadata_keys",
    "allow", "public_contacts",
}  # fmt: skip


@dataclass(frozen=True)
class PolicyFile:
    """The default policy and per-service overrides from one YAML file."""

    default: LeakPolicy = field(default_factory=LeakPolicy)
    services: Mapping[str, LeakPolicy] = field(default_factory=dict)
    path: str = "<built-in>"

    def for_service(self, service: str) -> LeakPolicy:
        return self.services.get(service, self.default)


def _parse_block(path: Path, where: str, block: Any, base: LeakPolicy) -> LeakPolicy:
    def fail(key: str | None, problem: str) -> PolicyFileError:
        at = f"{path}: {where}" + (f": key {key!r}" if key else "")
        return PolicyFileError(f"{at}: {problem}")

    if not isinstance(block, Mapping):
        raise fail(None, f"expected a mapping, got {type(block).__name__}")
    unknown = sorted(set(block) - _FILE_KEYS)
    if unknown:
        raise fail(unknown[0], f"unknown key; known keys: {sorted(_FILE_KEYS)}")
    out: dict[str, Any] = {}

    def names(key: str, value: Any, allowed: Iterable[str] | None) -> list[str]:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise fail(key, "expected a list of strings")
        if allowed is not None:
            bad = sorted(set(value) - set(allowed))
            if bad:
                raise fail(key, f"unknown value(s) {bad}; known: {sorted(allowed)}")
        return value

    if "page" in block:
        out["page"] = frozenset(names("page", block["page"], KINDS))
    for key in ("personal_types", "invented_types"):
        if key in block:
            out[key] = frozenset(names(key, block[key], KNOWN_TYPES))
    if "identity_metadata_keys" in block:
        out["identity_metadata_keys"] = tuple(
            names("identity_metadata_keys", block["identity_metadata_keys"], None)
        )
    if "public_contacts" in block:
        if not isinstance(block["public_contacts"], bool):
            raise fail("public_contacts", "expected true or false")
        out["public_contacts"] = block["public_contacts"]
    if "severity" in block:
        sev = block["severity"]
        if not isinstance(sev, Mapping):
            raise fail("severity", "expected a mapping of kind to severity")
        for kind, level in sev.items():
            if kind not in KINDS:
                raise fail("severity", f"unknown kind {kind!r}; known: {list(KINDS)}")
            if level not in SEVERITIES:
                raise fail("severity", f"{kind}: unknown severity {level!r}; known: {SEVERITIES}")
            if kind == "secret" and level != "critical":
                raise fail("severity", "secret is always critical")
        out["severity"] = {**base.severity, **sev}
    if "allow" in block:
        allow = block["allow"]
        if not isinstance(allow, Mapping) or set(allow) - {"types", "values"}:
            raise fail("allow", "expected a mapping with 'types' and/or 'values'")
        if "types" in allow:
            out["allow_types"] = frozenset(names("allow.types", allow["types"], KNOWN_TYPES))
        if "values" in allow:
            out["allow_values"] = frozenset(names("allow.values", allow["values"], None))
    return base.merged(out)


def load_policy(path: str | Path | None = None) -> PolicyFile:
    """Read and validate a leak policy file; raise ``PolicyFileError`` naming file and key."""
    import yaml

    path = Path(path) if path is not None else DEFAULT_POLICY_FILE
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PolicyFileError(f"{path}: cannot read the PII policy file: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise PolicyFileError(f"{path}: not valid YAML: {exc}") from None
    if doc is None:
        doc = {}
    if not isinstance(doc, Mapping):
        raise PolicyFileError(f"{path}: expected a mapping with 'default' and 'services'")
    unknown = sorted(set(doc) - {"default", "services"})
    if unknown:
        raise PolicyFileError(f"{path}: unknown top-level key {unknown[0]!r}; known: "
                              "['default', 'services']")  # fmt: skip
    default = _parse_block(path, "default", doc.get("default") or {}, LeakPolicy())
    services_doc = doc.get("services") or {}
    if not isinstance(services_doc, Mapping):
        raise PolicyFileError(f"{path}: services: expected a mapping of service name to block")
    services = {
        str(name): _parse_block(path, f"services.{name}", block or {}, default)
        for name, block in services_doc.items()
    }
    return PolicyFile(default, services, str(path))
