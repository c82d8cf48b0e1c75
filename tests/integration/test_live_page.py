"""The live page in headless Chromium, on the demo's stream, with a real worker serving it:
it loads, draws every chart with data over minute buckets, and shows the same totals as
`infersight query` run against the same worker.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from conftest import wait_until
from helpers import create_topics, publish, start_worker, worker_settings

from streams.demo import settings_env
from streams.demo_data import generate

N_MESSAGES = 400
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


def chromium(tmp: Path, *args: str) -> str:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    assert browser, "headless Chromium is needed: apt-get install -y chromium"
    profile = tmp / f"profile-{len(list(tmp.glob('profile-*')))}"
    out = subprocess.run([browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
                         capture_output=True, text=True, timeout=120, check=True)  # fmt: skip
    return out.stdout


@pytest.fixture(scope="module")
def live(broker: str, tmp_path_factory: pytest.TempPathFactory):
    tmp: Path = tmp_path_factory.mktemp("live")
    settings = worker_settings(broker, tmp)
    create_topics(settings)
    messages = generate(N_MESSAGES, seed=7, run_id="live", shift_at=0.6)
    worker = start_worker(settings, "live")
    try:
        publish(broker, settings.kafka.topic("llm.inference.v1"),
                [(m.key, m.value) for m in messages])  # fmt: skip

        def done() -> bool:
            s = worker.stats()
            return s.get("events_stored", 0) + s.get("deadlettered", 0) >= N_MESSAGES

        wait_until(done, 120, what="every message stored or dead-lettered")
        base = f"http://127.0.0.1:{settings.web_port}"
        assert httpx.post(f"{base}/api/rollups/refresh", timeout=60).status_code == 200
        yield settings, base, tmp, messages
    finally:
        worker.stop()


def test_live_page_loads_draws_charts_and_matches_infersight_query(live) -> None:
    """The DOM after the first refresh: six tiles filled, a canvas per chart with points
    in minute buckets, and the totals of `infersight query cost_by_service_model`."""
    settings, base, tmp, messages = live
    dom = chromium(tmp, "--virtual-time-budget=10000", "--dump-dom", f"{base}/")
    assert re.search(r'<body[^>]*data-loaded="', dom), dom[:2000]
    charts = re.findall(r'<div class="chart" data-points="(\d+)" data-series="(\d+)"', dom)
    assert len(charts) == 5 and dom.count("<canvas") >= 4
    assert sum(int(p) > 0 for p, _ in charts) >= 4  # errors may have no points
    snapshot = httpx.get(f"{base}/api/live", timeout=60).json()
    assert snapshot["bucket_s"] == 60  # a few minutes of data: minute buckets
    calls = next(c for c in snapshot["charts"] if c["title"] == "Calls by model")
    assert calls["xmax"] - calls["xmin"] < 3600  # the axis spans the data, not days
    today = datetime.now(UTC).date()
    since = (today - timedelta(days=1)).isoformat()
    env = {k: v for k, v in os.environ.items() if not k.startswith("INFERSIGHT_")}
    env.update(settings_env(settings))
    out = subprocess.run(
        [sys.executable, "-m", "streams.cli", "query", "cost_by_service_model", "-p",
         f"since={since}", "-p", f"until={today}", "--format", "json"],
        env=env, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    rows = json.loads(out.stdout)
    good = sum(m.valid for m in messages)
    assert sum(r["events"] for r in rows) == good
    events = re.search(r'id="total-events" data-value="(\d+)"', dom)
    cost = re.search(r'id="total-cost" data-value="([0-9.]+)"', dom)
    assert events and int(events[1]) == good
    assert cost and abs(float(cost[1]) - sum(float(r["cost_usd"]) for r in rows)) < 1e-6
    dead = snapshot["tables"]["deadletters_by_reason"]["rows"]
    assert sum(r[1] for r in dead) == N_MESSAGES - good
    assert html.escape("infersight query cost_by_service_model") in dom


def test_live_page_screenshot_is_not_blank(live) -> None:
    """Chromium's screenshot of the page has lines and text, not a blank canvas."""
    _, base, tmp, _ = live
    shot = tmp / "live.png"
    chromium(tmp, "--hide-scrollbars", "--window-size=1300,1500", "--virtual-time-budget=10000",
             f"--screenshot={shot}", f"{base}/")  # fmt: skip
    import matplotlib.image

    pixels = matplotlib.image.imread(shot)
    assert pixels.shape[:2] == (1500, 1300)
    colours = {tuple(p) for p in pixels[::5, ::5, :3].reshape(-1, 3).round(2).tolist()}
    assert len(colours) > 50
    keep = os.environ.get("INFERSIGHT_KEEP_SCREENSHOT")
    if keep:  # how docs/live-page.png was made
        shutil.copy(shot, keep)


def test_report_on_the_demo_stream_draws_minute_lines_in_chromium(live) -> None:
    """`infersight report` through the worker, on a few minutes of the demo's stream: minute
    buckets, an axis that spans the data (not the 2-day window), every chart drawn."""
    settings, _, tmp, _ = live
    env = {k: v for k, v in os.environ.items() if not k.startswith("INFERSIGHT_")}
    env.update(settings_env(settings))
    out = tmp / "report.html"
    subprocess.run([sys.executable, "-m", "streams.cli", "report", "--out", str(out), "--days",
                    "2"], env=env, capture_output=True, text=True, timeout=120, check=True)  # fmt: skip
    page = out.read_text()
    specs = [json.loads(html.unescape(m)) for m in re.findall(r'data-chart-spec="([^"]*)"', page)]
    assert len(specs) == 5
    calls = next(s for s in specs if s["title"] == "Calls by model")
    assert calls["bucket_s"] == 60 and len(calls["x"]) >= 1
    assert calls["xmax"] - calls["xmin"] <= 3600 and calls["series"]
    dom = chromium(tmp, "--virtual-time-budget=5000", "--dump-dom", out.as_uri())
    drawn = re.findall(r'<div class="chart" data-chart-spec="[^"]*" data-points="(\d+)"', dom)
    assert dom.count("<canvas") >= 4 and sum(int(p) > 0 for p in drawn) >= 4
