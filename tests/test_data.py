import gzip
import shutil

import numpy as np
import pytest
import torch

from featurelab import data
from featurelab.data import DataError, ParameterError

HAVE_FMNIST = True
try:
    data.find_dataset("fashion_mnist")
except DataError:
    HAVE_FMNIST = False
needs_fmnist = pytest.mark.skipif(not HAVE_FMNIST, reason="Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")


def _write_idx(path, array):
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as fh:
        fh.write(header + array.astype(np.uint8).tobytes())


def test_read_idx_roundtrip(tmp_path):
    arr = np.arange(2 * 3 * 4).reshape(2, 3, 4)
    _write_idx(tmp_path / "x.gz", arr)
    np.testing.assert_array_equal(data.read_idx(tmp_path / "x.gz"), arr)


def test_read_idx_rejects_garbage_and_truncation(tmp_path):
    (tmp_path / "bad").write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(DataError, match="not an unsigned-byte IDX"):
        data.read_idx(tmp_path / "bad")
    header = bytes([0, 0, 8, 1]) + (10).to_bytes(4, "big")
    (tmp_path / "short").write_bytes(header + b"\x00" * 3)
    with pytest.raises(DataError, match="truncated"):
        data.read_idx(tmp_path / "short")


def test_missing_dataset_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "REPO_DATA", tmp_path / "none")
    monkeypatch.setattr(data, "CACHE_DIR", tmp_path / "cache")
    monkeypatch.setitem(data.registry()["fashion_mnist"], "system_dirs", [str(tmp_path / "sys")])
    monkeypatch.delenv("FEATURELAB_DATA", raising=False)
    with pytest.raises(DataError, match="apt-get install dataset-fashion-mnist.*FEATURELAB_DOWNLOAD=1"):
        data.find_dataset("fashion_mnist", download=False)
    with pytest.raises(DataError, match="explicit path"):
        data.find_dataset("fashion_mnist", path=tmp_path)
    with pytest.raises(DataError, match="unknown dataset"):
        data.find_dataset("imagenet")


@needs_fmnist
def test_corrupt_file_is_detected(tmp_path):
    src = data.find_dataset("fashion_mnist")
    for f in src.iterdir():
        shutil.copy(f, tmp_path / f.name)
    with open(tmp_path / "t10k-labels-idx1-ubyte.gz", "ab") as fh:
        fh.write(b"x")
    with pytest.raises(DataError, match="corrupt"):
        data.find_dataset("fashion_mnist", path=tmp_path)


@needs_fmnist
def test_load_fashion_mnist_subset_and_classes():
    s = data.load_fashion_mnist(n_train=100, n_test=50, size=14, seed=1, classes=[7, 2])
    assert s.x_train.shape == (100, 1, 14, 14) and s.x_test.shape == (50, 1, 14, 14)
    assert s.x_train.dtype == torch.float32 and 0 <= s.x_train.min() and s.x_train.max() <= 1
    assert set(s.y_train.tolist()) == {0, 1} and torch.bincount(s.y_train).tolist() == [50, 50]
    assert s.classes == ("Sneaker", "Pullover")
    with pytest.raises(ParameterError):
        data.load_fashion_mnist(n_train=10, classes=[3, 3])


@needs_fmnist
def test_whole_fashion_mnist_is_built_once_per_size():
    a = data.load_fashion_mnist(size=14)
    assert data.load_fashion_mnist(size=14) is a and a.x_train.shape == (60_000, 1, 14, 14)
    b = data.load_fashion_mnist(size=14, classes=[7, 2])
    assert b is not a and b.classes == ("Sneaker", "Pullover") and len(b.y_test) == 2_000
    sub = data.load_fashion_mnist(n_train=20, n_test=10, size=14, seed=3)      # subsets are fresh copies
    assert sub.x_train.shape == (20, 1, 14, 14) and sub.x_train.data_ptr() != a.x_train.data_ptr()
    with pytest.raises(ParameterError):
        data.load_fashion_mnist(classes=[3, 3])


def test_balanced_indices_and_subset():
    y = np.repeat(np.arange(3), [10, 20, 30])
    idx = data.balanced_indices(y, 9, seed=0)
    assert len(set(idx.tolist())) == 9 and np.bincount(y[idx]).tolist() == [3, 3, 3]
    x, yy = data.subset(torch.arange(60.0).unsqueeze(1), torch.from_numpy(y), 6)
    assert x.shape == (6, 1) and torch.bincount(yy).tolist() == [2, 2, 2]
    with pytest.raises(ParameterError):
        data.balanced_indices(y, 0)
    with pytest.raises(ParameterError):
        data.balanced_indices(y, 61)


def test_downsample_averages():
    img = torch.zeros(1, 1, 4, 4)
    img[..., :2, :2] = 1
    out = data.downsample(img, 2)
    assert out.shape == (1, 1, 2, 2) and out[0, 0, 0, 0] == 1 and out[0, 0, 1, 1] == 0


def test_digits_split():
    s = data.load_digits_split(test_size=0.25, seed=0)
    assert s.x_train.shape[1] == 64 and s.n_classes == 10
    assert len(s.x_train) + len(s.x_test) == 1797 and float(s.x_train.max()) <= 1
    assert data.load_digits_split(flat=False).x_test.shape[1:] == (1, 8, 8)
    with pytest.raises(ParameterError):
        data.load_digits_split(test_size=1.5)


def test_mnist1d_is_generated_locally():
    s = data.load_mnist1d(num_samples=200, seed=3)
    assert s.x_train.shape == (160, 40) and s.x_test.shape == (40, 40)
    assert s.y_train.dtype == torch.int64
    with pytest.raises(ParameterError):
        data.load_mnist1d(num_samples=1)


def test_fmnist_m_textures():
    tex = data.colour_textures(5, 28, seed=0)
    assert tex.shape == (5, 3, 28, 28) and 0 <= tex.min() and tex.max() <= 1
    assert torch.equal(tex, data.colour_textures(5, 28, seed=0))
    g = torch.zeros(5, 1, 28, 28)
    g[..., 10:18, 10:18] = 1.0
    m = data.make_fmnist_m(g, seed=0)
    assert m.shape == (5, 3, 28, 28)
    assert torch.allclose(m[..., 10:18, 10:18], torch.ones(1))  # the garment survives
    assert torch.allclose(m[..., :5, :5], tex[..., :5, :5])  # the background is the texture
    assert data.to_rgb(g).shape == (5, 3, 28, 28)
    with pytest.raises(ParameterError):
        data.make_fmnist_m(torch.zeros(2, 3, 28, 28))


def test_as_batches_covers_all():
    b = list(data.as_batches(10, 4, torch.Generator().manual_seed(0)))
    assert [len(x) for x in b] == [4, 4, 2] and sorted(torch.cat(b).tolist()) == list(range(10))


# ------------------------------------------------------------------------------------------ text embeddings
def test_text_embeddings_missing_cache_says_how_to_build_it():
    with pytest.raises(data.DataError, match="scripts/embed_texts.py no_such_paper"):
        data.load_text_embeddings("no_such_paper", ["a red circle"])


@pytest.mark.parametrize("path", sorted(data.EMBEDDINGS_DIR.glob("*.npz")), ids=lambda p: p.stem)
def test_committed_text_embeddings_match_their_paper_texts(path):
    """Each cache holds exactly its paper module's TEXTS (so `scripts/embed_texts.py` regenerates it)."""
    import importlib

    paper = importlib.import_module(f"featurelab.papers.{path.stem}")
    with np.load(path) as z:
        assert [str(t) for t in z["texts"]] == list(paper.TEXTS)
        assert str(z["model"]) == data.EMBEDDING_MODEL
    emb = data.load_text_embeddings(path.stem, list(paper.TEXTS))
    assert emb.shape == (len(paper.TEXTS), 384)
    assert torch.allclose(emb.norm(dim=1), torch.ones(len(emb)), atol=1e-3)


def test_load_digits_signed_maps_pixels_to_minus_one_one_and_back():
    from featurelab.data import load_digits_signed, to_unit

    d = load_digits_signed(3)
    assert d.x_train.shape == (1437, 64) and d.x_test.shape == (360, 64)
    assert float(d.x_train.min()) == -1.0 and float(d.x_train.max()) == 1.0
    ref = data.load_digits_split(test_size=0.2, seed=3)
    assert torch.equal(d.y_test, ref.y_test)
    assert np.allclose(to_unit(d.x_test), ref.x_test.numpy(), atol=1e-6)
    assert to_unit(torch.tensor([-3.0, 0.0, 3.0])).tolist() == [0.0, 0.5, 1.0]   # clipped
