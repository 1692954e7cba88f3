"""The MiniLM pack on MLX against sentence-transformers (torch, CPU) on the very same folder."""

from __future__ import annotations

import numpy as np
import pytest

from rag.embed import Embedder, get_embedder

SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Photosynthesis converts light energy into chemical energy stored in glucose.",
    "¿Dónde está la biblioteca? Está cerca de la plaza mayor.",
    "In 1455, Gutenberg printed the Bible with movable metal type.",
    "ok",
    "",
    "The committee will reconvene on Tuesday at 9:30 a.m. to discuss the budget (again).",
    "def embed(texts): return model(texts)  # code is text too",
    "Stock prices fell sharply after the central bank raised interest rates by 50 basis points.",
    "I'm not sure that's right — could you check the transcript around minute twelve?",
    # far past the 256-token limit: both sides must truncate at the same place
    " ".join(f"sentence number {i} talks about rivers, mountains and the weather in spring." for i in range(80)),
]


@pytest.fixture(scope="module")
def minilm(pack):
    return pack("all-minilm-l6-v2")


@pytest.fixture(scope="module")
def embedder(minilm):
    from rag.settings import Settings

    return get_embedder(Settings(models_dir=str(minilm.parent)))


def test_long_sentence_exceeds_limit(embedder):
    n = len(embedder.tokenizer(SENTENCES[-1])["input_ids"])
    assert n > 256 and embedder.max_length == 256


@pytest.fixture(scope="module")
def ours(embedder) -> np.ndarray:
    return embedder.embed(SENTENCES, batch_size=4)


def test_shape_dtype_and_unit_rows(embedder, ours):
    assert isinstance(embedder, Embedder)
    assert embedder.name == "all-minilm-l6-v2" and embedder.dim == 384
    assert ours.shape == (len(SENTENCES), 384) and ours.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    assert embedder.embed([]).shape == (0, 384)


def test_order_kept_across_length_sorted_batches(embedder, ours):
    """Batches are sorted by length inside; each row must still belong to its own text."""
    reversed_ = embedder.embed(SENTENCES[::-1], batch_size=32)[::-1]  # other order, other batches, other padding
    assert np.min(np.sum(ours * reversed_, axis=1)) > 0.9999
    # and the sentences really differ, so a shuffled row would show
    sims = ours @ ours.T
    assert np.max(sims[~np.eye(len(SENTENCES), dtype=bool)]) < 0.95


def test_cached_per_process(embedder, minilm):
    from rag.settings import Settings

    assert get_embedder(Settings(models_dir=str(minilm.parent))) is embedder


def test_matches_sentence_transformers(ours, minilm):
    pytest.importorskip("torch", reason="torch is not installed: no sentence-transformers reference to compare with")
    st = pytest.importorskip("sentence_transformers", reason="sentence-transformers is not installed")
    ref_model = st.SentenceTransformer(str(minilm), device="cpu")
    assert ref_model.max_seq_length == 256
    ref = ref_model.encode(SENTENCES, normalize_embeddings=True, convert_to_numpy=True)
    cos = np.sum(ref * ours, axis=1) / np.linalg.norm(ref, axis=1) / np.linalg.norm(ours, axis=1)
    assert cos.min() >= 0.999, dict(zip(SENTENCES, cos.round(6)))


def test_text_embeds_already_pooled_and_normalised(embedder):
    """mlx-embeddings' `text_embeds` for BERT is mean-pooled and unit length before our own normalisation."""
    mx = embedder._mx
    enc = embedder.tokenizer(SENTENCES[:3], padding=True, truncation=True, max_length=256, return_tensors="np")
    out = embedder.model(mx.array(enc["input_ids"]), attention_mask=mx.array(enc["attention_mask"]),
                         token_type_ids=mx.array(enc["token_type_ids"]))
    te = np.array(out.text_embeds)
    np.testing.assert_allclose(np.linalg.norm(te, axis=1), 1.0, atol=1e-5)
    hidden = np.array(out.last_hidden_state)
    mask = enc["attention_mask"][..., None].astype(np.float32)
    mean = (hidden * mask).sum(1) / mask.sum(1)
    mean /= np.linalg.norm(mean, axis=1, keepdims=True)
    np.testing.assert_allclose(te, mean, atol=1e-5)


def test_unknown_backend_is_one_clear_error(minilm):
    from rag.models import ModelError
    from rag.settings import Settings

    s = Settings(models_dir=str(minilm.parent), embed={"model": "all-minilm-l6-v2", "backend": "nope"})
    with pytest.raises(ModelError, match="embedding backend 'nope'"):
        get_embedder(s)
