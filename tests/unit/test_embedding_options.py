"""Embedding precisions: ONNX fp32 / int8 export into a writable cache, offline, agreeing with
the torch fp32 model."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from detectors.embedding import (
    PRECISIONS,
    Embedder,
    default_cache_dir,
    get_embedder,
    model_path,
    onnx_model_dir,
)

# Real texts: chatterbot-corpus, a HaluEval dialogue response, a HaluEval summary opening.
TEXTS = [
    "Tell me a joke",
    "I like crime fiction! Didn't know RDJ was in there. Jake Gyllenhaal starred as well.",
    "The French prosecutor leading an investigation into the crash of Germanwings Flight 9525 "
    "insisted Wednesday that he was not aware of any video footage from on board the plane.",
]


@pytest.fixture(scope="session")
def onnx_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("model-cache")


@pytest.fixture(scope="session")
def fp32_vectors() -> np.ndarray:
    return get_embedder("fp32").encode(TEXTS)


@pytest.fixture(scope="session")
def onnx_vectors(onnx_cache) -> dict[str, np.ndarray]:
    return {
        p: Embedder(p, cache_dir=str(onnx_cache)).encode(TEXTS) for p in ("onnx-fp32", "onnx-int8")
    }


def test_four_precisions_are_offered():
    """fp32, bf16, onnx-fp32 and onnx-int8 are the selectable options."""
    assert PRECISIONS == ("fp32", "bf16", "onnx-fp32", "onnx-int8")


def test_onnx_fp32_matches_torch_fp32(fp32_vectors, onnx_vectors):
    """ONNX fp32 gives the torch fp32 vectors to within float rounding."""
    cos = (fp32_vectors * onnx_vectors["onnx-fp32"]).sum(axis=1)
    assert cos.min() > 0.99999
    assert onnx_vectors["onnx-fp32"].shape == (3, 384)
    assert onnx_vectors["onnx-fp32"].dtype == np.float32


def test_onnx_int8_stays_close_to_fp32(fp32_vectors, onnx_vectors):
    """Dynamic int8 quantisation keeps cosine agreement with fp32 above 0.95 on real texts."""
    cos = (fp32_vectors * onnx_vectors["onnx-int8"]).sum(axis=1)
    assert cos.min() > 0.95
    assert np.allclose(np.linalg.norm(onnx_vectors["onnx-int8"], axis=1), 1.0, atol=1e-4)


def test_export_lands_in_the_cache_dir_not_site_packages(onnx_cache, onnx_vectors):
    """The export is written under cache_dir; the packaged model directory is untouched."""
    exported = onnx_model_dir(onnx_cache)
    assert exported.parent == onnx_cache
    assert (exported / "onnx" / "model.onnx").is_file()
    assert len(list((exported / "onnx").glob("model_qint8_*.onnx"))) == 1
    assert not (Path(model_path()) / "onnx").exists()
    assert not list(onnx_cache.glob(".onnx-export-*"))


def test_second_call_reuses_the_export(onnx_cache, onnx_vectors):
    """A later onnx_model_dir call returns the same files without exporting again."""
    exported = onnx_model_dir(onnx_cache)
    before = (exported / "onnx" / "model.onnx").stat().st_mtime_ns
    assert onnx_model_dir(onnx_cache) == exported
    assert (exported / "onnx" / "model.onnx").stat().st_mtime_ns == before


def test_default_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    """INFERSIGHT_MODEL_CACHE wins; otherwise XDG_CACHE_HOME/infersight."""
    monkeypatch.setenv("INFERSIGHT_MODEL_CACHE", str(tmp_path / "a"))
    assert default_cache_dir() == tmp_path / "a"
    monkeypatch.delenv("INFERSIGHT_MODEL_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "infersight"


def test_unknown_precision_is_rejected_naming_the_options():
    """A bad precision names the parameter, the options and the value."""
    with pytest.raises(ValueError, match="precision must be one of fp32, bf16, onnx-fp32, "):
        Embedder("int4")  # type: ignore[arg-type]  # the point of the test


def test_empty_input_needs_no_model():
    """No texts: an empty (0, 384) array, without loading or exporting anything."""
    out = Embedder("onnx-int8", cache_dir="/nonexistent/never-created").encode([])
    assert out.shape == (0, 384)


def test_shared_embedder_is_one_per_option_set(onnx_cache):
    """get_embedder returns one instance per (precision, batch, length, cache) combination."""
    a = get_embedder("onnx-int8", cache_dir=str(onnx_cache))
    assert get_embedder("onnx-int8", cache_dir=str(onnx_cache)) is a
    assert get_embedder("onnx-fp32", cache_dir=str(onnx_cache)) is not a


def test_onnx_embedder_pickles_without_its_session(onnx_cache, onnx_vectors):
    """A pickled ONNX embedder reloads lazily and gives the same vectors."""
    emb = Embedder("onnx-int8", cache_dir=str(onnx_cache))
    emb.encode(TEXTS[:1])
    clone = pickle.loads(pickle.dumps(emb))
    assert repr(clone) == repr(emb)
    assert "cache_dir=" in repr(clone)
    np.testing.assert_allclose(clone.encode(TEXTS), onnx_vectors["onnx-int8"], atol=1e-6)


def test_cache_encodes_each_distinct_text_once_and_gives_the_same_vectors(fp32_vectors):
    """Repeats within a call and across calls are hits; the vectors are the model's own."""
    emb = Embedder("fp32", cache_size=100)
    first = emb.encode([TEXTS[0], TEXTS[1], TEXTS[0], TEXTS[2], TEXTS[1]])
    assert emb.cache_info() == {"hits": 2, "misses": 3, "size": 3, "max": 100}
    np.testing.assert_allclose(first[[0, 1, 3]], fp32_vectors, atol=1e-5)
    np.testing.assert_array_equal(first[0], first[2])
    again = emb.encode(TEXTS[::-1])
    assert emb.cache_info()["hits"] == 5
    assert emb.cache_info()["misses"] == 3
    np.testing.assert_array_equal(again, first[[3, 1, 0]])
    again[0] += 1.0  # callers own what they get: the cached vector is untouched
    np.testing.assert_array_equal(emb.encode(TEXTS[2:])[0], first[3])


def test_cache_is_bounded_least_recently_used_out():
    """Past cache_size the least recently used vector is dropped and encoded again later."""
    emb = Embedder("fp32", cache_size=2)
    emb.encode(TEXTS)  # holds TEXTS[1], TEXTS[2]
    assert emb.cache_info() == {"hits": 0, "misses": 3, "size": 2, "max": 2}
    emb.encode(TEXTS[1:2])  # a hit: TEXTS[1] becomes the most recent
    emb.encode(TEXTS[0:1])  # a miss: evicts TEXTS[2]
    emb.encode(TEXTS[1:2])  # still held
    emb.encode(TEXTS[2:3])  # evicted, a miss
    assert emb.cache_info() == {"hits": 2, "misses": 5, "size": 2, "max": 2}


def test_no_cache_by_default_and_a_negative_size_is_rejected():
    """A bare Embedder encodes every text (the model's own speed); cache_size < 0 is named."""
    assert Embedder("fp32").cache_info() == {"hits": 0, "misses": 0, "size": 0, "max": 0}
    with pytest.raises(ValueError, match="cache_size must be >= 0, got -1"):
        Embedder("fp32", cache_size=-1)


def test_pickled_embedder_starts_with_an_empty_cache():
    """The cache is not pickled; the clone keeps its bound."""
    emb = Embedder("fp32", cache_size=10)
    emb.encode(TEXTS[:1])
    clone = pickle.loads(pickle.dumps(emb))
    assert clone.cache_info() == {"hits": 0, "misses": 0, "size": 0, "max": 10}
    assert repr(clone) == repr(emb)


def test_onnx_sessions_do_not_spin_and_give_the_same_vectors(onnx_cache, onnx_vectors):
    """Idle ONNX Runtime threads sleep (they took the cores other threads waited for); the
    vectors equal those of a session with the runtime's defaults, bit for bit."""
    from sentence_transformers import SentenceTransformer

    from detectors.embedding import _onnx_file

    emb = Embedder("onnx-int8", cache_dir=str(onnx_cache))
    emb.encode(TEXTS)
    options = emb._load()[0].auto_model.model.get_session_options()
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    plain = SentenceTransformer(
        str(onnx_model_dir(str(onnx_cache))), backend="onnx", device="cpu",
        local_files_only=True,
        model_kwargs={"file_name": _onnx_file("onnx-int8"), "provider": "CPUExecutionProvider"},
    )  # fmt: skip
    plain.max_seq_length = emb.max_seq_length
    assert np.array_equal(
        plain.encode(TEXTS, normalize_embeddings=True, convert_to_numpy=True),
        onnx_vectors["onnx-int8"],
    )


def test_model_threads_reach_torch_and_onnx_runtime():
    """INFERSIGHT_DETECTORS_MODEL_THREADS sizes both libraries' pools (OMP_NUM_THREADS does
    not reach ONNX Runtime, which otherwise takes one thread per core of the machine);
    0 leaves their defaults."""
    import torch

    from detectors import embedding

    saved, before = dict(embedding._default), torch.get_num_threads()
    try:
        embedding.configure("onnx-int8", threads=1)
        assert torch.get_num_threads() == 1
        assert embedding._onnx_session_options().intra_op_num_threads == 1
        embedding.configure("onnx-int8", threads=0)
        assert embedding._onnx_session_options().intra_op_num_threads == 0  # ORT's default
        with pytest.raises(ValueError, match="threads must be >= 0"):
            embedding.configure("fp32", threads=-1)
    finally:
        embedding._default.update(saved)
        torch.set_num_threads(before)


def test_a_huge_text_is_cut_before_the_tokenizer_and_embeds_the_same():
    """The model reads 256 word pieces; the tokenizer used to walk all of a 950 kB response
    first (0.79 s for one text). The text is cut at 128 characters per word piece, far past
    what the model reads: the vector is the one of the whole text."""
    import random

    from detectors.embedding import get_embedder

    rng = random.Random(1)
    words = "account refund password invoice network the of and to".split()
    big = " ".join(f"{rng.choice(words)}{rng.randint(0, 99999)}" for _ in range(60_000))
    emb = get_embedder()
    assert len(big) > emb.max_seq_length * 128
    [whole] = emb._encode([big])  # the model on the uncut text
    [cut] = emb.encode([big])
    assert float(np.dot(whole, cut)) > 0.99999
