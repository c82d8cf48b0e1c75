"""scripts/injection_product.py: the training and calibration parts never share a frame or a
filler, generation is seeded, and it stops when the slot lists run out."""

from __future__ import annotations

import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import injection_product as product  # noqa: E402


def test_training_and_calibration_parts_share_no_text():
    """No calibration request or document equals a training text of the same generator."""
    train = set(product.benign(random.Random(1), 900)) | set(product.attacks(random.Random(2), 450))
    cal = product.calibration_texts(3)
    assert len(cal["requests"]) == 120 and len(cal["documents"]) == 60
    assert not train & set(cal["requests"])
    assert not train & {doc for doc, _ in cal["documents"]}


def test_the_parts_split_every_slot_list_by_position():
    """Every third item (from the first) is calibration's, the others training's."""
    items = [f"s{k}" for k in range(7)]
    assert product._part(items, product.CAL) == ["s0", "s3", "s6"]
    assert product._part(items, product.TRAIN) == ["s1", "s2", "s4", "s5"]


def test_generation_is_seeded_and_stops_when_the_slots_run_out():
    """Same seed, same texts; asking for more than the slot lists hold returns fewer."""
    assert product.benign(random.Random(5), 60) == product.benign(random.Random(5), 60)
    few = product.benign(random.Random(5), 30_000)
    assert 1000 < len(few) < 30_000


def test_hand_written_product_requests_are_neither_calibration_nor_field_set():
    """The look-7 hand-written training requests share no text with the hand-written hard
    calibration requests, the generator's calibration part, the first hand-written training
    set or the frozen field set (prompts and documents), and none repeats."""
    import json

    root = Path(__file__).resolve().parents[2]

    def texts(path: Path) -> list[str]:
        return [
            json.loads(ln)["text"] for ln in path.read_text(encoding="utf-8").splitlines() if ln
        ]

    data = root / "scripts" / "data"
    rows = texts(data / "injection_product_handwritten.jsonl")
    field = [
        json.loads(ln)
        for ln in (root / "benchmarks/quality/fieldsets/injection.jsonl").read_text().splitlines()
        if ln.strip()
    ]
    field_texts = {r["prompt"] for r in field} | {d for r in field for d in r["context"]}
    cal = product.calibration_texts(20248)
    assert len(rows) == len(set(rows)) == 113
    assert not set(rows) & set(texts(data / "injection_calibration.jsonl"))
    assert not set(rows) & set(texts(data / "injection_handwritten.jsonl"))
    assert not set(rows) & set(cal["requests"])
    assert not set(rows) & field_texts


def test_product_parts_keep_only_the_named_kinds():
    """``--product-parts drafts,attacks`` keeps the drafts (benign) and the attacks, and
    drops the overrides and documents, of the same seeded generation."""
    import train_injection as ti

    texts, labels = ti._product(("drafts", "attacks"))
    whole, whole_labels = ti._product()
    kinds = product.kinds(whole, whole_labels)
    assert len(texts) == int(kinds["drafts"].sum() + kinds["attacks"].sum()) == 750
    assert set(texts) < set(whole)
    assert all("the assistant for" in t for t, y in zip(texts, labels, strict=True) if y == 0)


def test_sample_weights_follow_the_source_and_skip_the_held_out_one():
    """Per-source weights become per-row weights, in the order the rows are stacked; the
    held-out source's rows are left out; no weights means unweighted."""
    import numpy as np
    import train_injection as ti

    def part(n: int, y: int) -> dict:
        return {"train": (np.zeros((n, 2)), np.full(n, y))}

    mats = {"a": part(2, 0), "product": part(3, 1), "b": part(1, 0)}
    x, y, w = ti.weighted_stack(mats, {"product": 0.5}, leave_out="b")
    assert x.shape == (5, 2) and y.tolist() == [0, 0, 1, 1, 1]
    assert w is not None and w.tolist() == [1, 1, 0.5, 0.5, 0.5]
    assert ti.weighted_stack(mats)[2] is None
