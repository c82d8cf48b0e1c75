"""Datasets out on the embedded store: a hand-written selection in every format, the labels,
the manifest, and selections that cannot be exported."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from detectors.pipeline import ScoredEvent
from schemas.events import InferenceEvent
from schemas.results import Signal
from sinks.clickhouse import ClickHouseSettings, ClickHouseSink
from sinks.dataset import DatasetError, export_dataset, sql_selection
from sinks.feedback import FEEDBACK_COLUMNS

# Recent: bodies older than the 90-day text TTL (migration 005) are emptied on insert.
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)


def scored(i: int, toxic: bool) -> ScoredEvent:
    e = InferenceEvent(
        event_id=f"ds-{i}", timestamp=T0 + timedelta(minutes=i), service="tutor", model="m",
        prompt=[{"role": "system", "content": "Be kind."}, {"role": "user", "content": f"q{i}"}],
        response=f"a{i}", usage={"input_tokens": 9, "output_tokens": 4, "reasoning_tokens": 1},
    )  # fmt: skip
    sig = Signal(detector="toxicity", event_id=e.event_id, score=0.9 if toxic else 0.1,
                 fired=toxic, reason="t")  # fmt: skip
    return ScoredEvent(event=e, signals=[sig])


@pytest.fixture(scope="module")
def sink(chdb_dir: Path):
    s = ClickHouseSink(ClickHouseSettings(data_dir=chdb_dir, database="dataset"))
    s.migrate()
    s.write_results([scored(i, toxic=i == 2) for i in range(4)])
    s.insert("feedback", [
        ["ds-1", "u", T0, "down", None, "", "too terse", 1, [], T0],
        ["ds-3", "u", T0, "up", None, "", "", 0, [], T0],
    ], FEEDBACK_COLUMNS)  # fmt: skip
    yield s
    s.close()


def test_sql_selection_exports_every_format_with_labels(sink: ClickHouseSink, tmp_path) -> None:
    """Four events: one judged negative, one toxic, one liked, one unjudged; the OpenAI file
    keeps the chat and zeroes the weight of the two bad answers."""
    sel = sql_selection("SELECT event_id FROM events_v WHERE service = 'tutor';")
    manifest = export_dataset(sink, sel, tmp_path, ["jsonl", "openai", "parquet"],
                              command="infersight dataset export --sql ...")  # fmt: skip
    records = [json.loads(x) for x in (tmp_path / "events.jsonl").read_text().splitlines()]
    assert [r["labels"] for r in records] == [
        {"feedback": "none", "toxicity": False},
        {"feedback": "negative", "toxicity": False},
        {"feedback": "none", "toxicity": True},
        {"feedback": "positive", "toxicity": False},
    ]
    assert records[1]["feedback"][0]["comment"] == "too terse"
    assert records[0]["usage"]["reasoning_tokens"] == 1
    chat = [json.loads(x) for x in (tmp_path / "openai_chat.jsonl").read_text().splitlines()]
    assert chat[0]["messages"] == [
        {"role": "system", "content": "Be kind."}, {"role": "user", "content": "q0"},
        {"role": "assistant", "content": "a0", "weight": 1},
    ]  # fmt: skip
    assert [c["messages"][-1]["weight"] for c in chat] == [1, 0, 0, 1]
    table = pq.read_table(tmp_path / "events.parquet")
    assert table.num_rows == 4 and table.column("event_id").to_pylist()[0] == "ds-0"
    assert manifest["counts"]["events"] == 4 and manifest["counts"]["negative"] == 2
    assert manifest["label_distribution"] == {
        "feedback": {"none": 2, "negative": 1, "positive": 1},
        "detectors": {"toxicity": {"not_fired": 3, "fired": 1}},
    }
    assert manifest["source"] == {"sql": "SELECT event_id FROM events_v WHERE service = 'tutor'"}
    on_disk = json.loads((tmp_path / "manifest.json").read_text())
    assert on_disk == manifest and on_disk["files"]["parquet"]["rows"] == 4


@pytest.mark.parametrize(
    ("sql", "why"),
    [
        ("DROP TABLE events", "one SELECT"),
        ("SELECT 1; DROP TABLE events", "one SELECT"),
        ("SELECT event_id FROM no_such_table", "the selection failed in ClickHouse"),
    ],
)
def test_selections_that_cannot_be_exported_say_why(sink, tmp_path, sql: str, why: str) -> None:
    """Anything but one SELECT is refused before it runs; a failing one names the failure."""
    with pytest.raises(DatasetError, match=why):
        export_dataset(sink, sql_selection(sql), tmp_path)
    assert sink.scalar("SELECT count() FROM events_v") == 4


def test_unknown_retraining_id_and_format_are_refused(sink, tmp_path) -> None:
    """A retraining id that is not stored, or a format we do not write, is a DatasetError."""
    from sinks.dataset import retraining_selection

    with pytest.raises(DatasetError, match="no retraining event 'nope'"):
        retraining_selection(sink, "nope")
    with pytest.raises(DatasetError, match="unknown format"):
        export_dataset(sink, sql_selection("SELECT event_id FROM events_v"), tmp_path, ["csv"])
