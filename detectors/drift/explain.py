"""Why a window drifted, in words an on-call engineer can act on: the least familiar texts
("new here"), the reference topics that faded (k-means clusters of the reference), and the
sentence that carries both.

Texts pass through a caller-supplied redactor before they are quoted, so this module never
needs to know how PII is found (the monitor passes ``detectors.pii``'s redaction).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from detectors.drift.two_sample import TwoSampleResult

__all__ = ["Clusters", "Redactor", "excerpt", "explain", "reason"]

Redactor = Callable[[str], str]


def excerpt(text: str, redact: Redactor, width: int = 80) -> str:
    """``text`` redacted by ``redact``, whitespace collapsed, cut to ``width`` characters."""
    clean = " ".join(redact(text).split())
    return clean if len(clean) <= width else clean[: width - 1] + "…"


def explain(
    window: Any, reference: np.ndarray, clusters: Clusters, n_examples: int, redact: Redactor
) -> tuple[dict[str, Any], tuple[str, ...]]:
    """Structured evidence for one window and the ids of its example events.

    ``window`` has ``emb``, ``texts`` and ``ids``; with ``n_examples`` 0 (an insignificant
    window) only the cluster shares are given.
    """
    detail: dict[str, Any] = {"clusters": clusters.shift(window.emb)}
    if n_examples == 0:
        return detail, ()
    # Distance of each current item to its nearest reference item: "nothing like it before".
    sim = (window.emb @ reference.T).max(axis=1)
    # The least familiar items, one per distinct text: three copies of one sentence
    # tell on-call less than three different ones.
    order: list[int] = []
    seen: set[str] = set()
    for i in np.argsort(sim):
        text = window.texts[i] if window.texts else str(i)
        if text not in seen:
            seen.add(text)
            order.append(int(i))
        if len(order) == n_examples:
            break
    moved = [
        {
            "event_id": window.ids[i] if window.ids else None,
            "text": excerpt(window.texts[i], redact) if window.texts else None,
            "nearest_reference_similarity": round(float(sim[i]), 4),
        }
        for i in order
    ]
    detail["moved"] = moved
    detail["vanished"] = clusters.vanished(detail["clusters"], n_examples, redact)
    ids = tuple(str(m["event_id"]) for m in moved if m["event_id"] is not None)
    return detail, ids


def reason(
    what: str,
    res: TwoSampleResult,
    alpha: float,
    significant: bool,
    drift: bool,
    streak: tuple[int, int],
    detail: Mapping[str, Any],
) -> str:
    """The sentence for on-call: the test, the verdict, what is new and what faded.

    ``streak`` is (significant windows in a row, windows needed to alert).
    """
    head = (
        f"{what}: {res.test.upper()} "
        f"statistic {res.statistic:.4g}, p={res.p_value:.2g} "
        f"{'<' if significant else '>='} alpha={alpha:.2g} "
        f"({res.n_cur} current vs {res.n_ref} reference items)"
    )
    if not significant:
        return head + "; no drift."
    verdict = (
        f"drift confirmed in {streak[0]} consecutive windows"
        if drift
        else f"significant window {streak[0]} of {streak[1]} needed to alert"
    )
    parts = [f"{head}; {verdict}."]
    moved = [m["text"] for m in detail.get("moved", []) if m["text"]]
    if moved:
        parts.append("New here: " + "; ".join(f"'{t}'" for t in moved) + ".")
    vanished = detail.get("vanished", [])
    if vanished:
        v = vanished[0]
        example = f" e.g. '{v['example']}'" if v.get("example") else ""
        parts.append(
            f"Fading: reference cluster {v['cluster']} ({v['reference_share']:.0%} of the "
            f"reference, {v['current_share']:.0%} now){example}."
        )
    return " ".join(parts)


@dataclass(frozen=True)
class Clusters:
    """k-means topics of the reference, to say which of them faded in a window."""

    centers: np.ndarray
    shares: np.ndarray
    examples: tuple[str, ...]

    @staticmethod
    def fit(ref: Any, n_clusters: int, seed: int) -> Clusters:
        from sklearn.cluster import KMeans

        k = min(n_clusters, len(ref))
        km = KMeans(n_clusters=k, n_init=3, random_state=seed).fit(ref.emb)
        labels = km.labels_
        shares = np.bincount(labels, minlength=k) / len(ref)
        examples: list[str] = []
        for c in range(k):
            members = np.flatnonzero(labels == c)
            d = ((ref.emb[members] - km.cluster_centers_[c]) ** 2).sum(axis=1)
            examples.append(ref.texts[members[np.argmin(d)]] if ref.texts else "")
        return Clusters(km.cluster_centers_.astype(np.float32), shares, tuple(examples))

    def shift(self, emb: np.ndarray) -> list[dict[str, Any]]:
        d = (emb**2).sum(1)[:, None] - 2 * emb @ self.centers.T + (self.centers**2).sum(1)
        cur = np.bincount(d.argmin(axis=1), minlength=len(self.shares)) / emb.shape[0]
        return [
            {
                "cluster": c,
                "reference_share": round(float(self.shares[c]), 4),
                "current_share": round(float(cur[c]), 4),
            }
            for c in range(len(self.shares))
        ]

    def vanished(
        self, shift: list[dict[str, Any]], n: int, redact: Redactor
    ) -> list[dict[str, Any]]:
        """Clusters that held >= 5% of the reference and lost most of their share."""
        rows = [r for r in shift if r["reference_share"] >= 0.05]
        rows.sort(key=lambda r: r["current_share"] / r["reference_share"])
        out = []
        for r in rows[:n]:
            if r["current_share"] >= 0.5 * r["reference_share"]:
                break
            example = self.examples[r["cluster"]]
            out.append({**r, "example": excerpt(example, redact) if example else None})
        return out
