"""Image metrics: Frechet distance, class accuracy and nearest-neighbour memorisation.

- ``frechet_distance`` between two Gaussians fitted to features.  Over the features of the small
  classifier trained here (``modalities.image.classifier``) it is reported as "FD (local
  classifier)", never as FID: no Inception network is involved and the numbers are comparable
  only with other numbers from the same shipped classifier weights.
- ``class_accuracy``: how often that classifier gives a class-conditional sample its label.
- ``memorisation``: pixel-space nearest neighbours of samples in the training set, with the
  distance-ratio criterion of Yoon et al. (2023) and Gu et al. (2023): a sample is a memorised
  copy when its nearest training image is less than a third as far as the second nearest.

Test NLL in bits/dim is ``zoo.core.likelihood.bits_per_dim``; for 8-bit images scaled to
[-1, 1] (bins of width 2/256) its offset is log2(256 / 2) = 7 bits.
"""
from __future__ import annotations

import torch

__all__ = ["FD_NAME", "MEMORISED_RATIO", "frechet_distance", "feature_statistics", "classifier_features",
           "class_accuracy", "memorisation"]

FD_NAME = "FD (local classifier)"
MEMORISED_RATIO = 1 / 3


def _sqrt_psd(matrix: torch.Tensor) -> torch.Tensor:
    """Symmetric PSD (D, D) -> its symmetric square root; round-off negative eigenvalues become 0."""
    values, vectors = torch.linalg.eigh(matrix)
    return (vectors * values.clamp(min=0).sqrt()) @ vectors.T


def frechet_distance(mu1, cov1, mu2, cov2) -> float:
    """The Frechet (2-Wasserstein squared) distance between N(mu1, cov1) and N(mu2, cov2).

    mu: (D,), cov: (D, D) symmetric PSD (tensors or arrays).  Computes, in float64,
    ``|mu1 - mu2|^2 + tr(C1) + tr(C2) - 2 tr((C1^1/2 C2 C1^1/2)^1/2)`` with both square roots from
    symmetric eigendecompositions (negative eigenvalues from round-off clamped to 0).
    """
    mu1, mu2 = (torch.as_tensor(m, dtype=torch.float64).cpu() for m in (mu1, mu2))
    cov1, cov2 = (torch.as_tensor(c, dtype=torch.float64).cpu() for c in (cov1, cov2))
    D = mu1.shape[0] if mu1.dim() == 1 else -1
    if mu1.dim() != 1 or mu2.shape != (D,) or cov1.shape != (D, D) or cov2.shape != (D, D):
        raise ValueError(f"frechet_distance expects mu (D,) and cov (D, D) for both Gaussians, got mu1 "
                         f"{tuple(mu1.shape)}, cov1 {tuple(cov1.shape)}, mu2 {tuple(mu2.shape)}, cov2 {tuple(cov2.shape)}")
    root1 = _sqrt_psd(cov1)
    middle = root1 @ cov2 @ root1
    cross = torch.linalg.eigvalsh((middle + middle.T) / 2).clamp(min=0).sqrt().sum()
    value = (mu1 - mu2).pow(2).sum() + torch.trace(cov1) + torch.trace(cov2) - 2 * cross
    return float(value)


def feature_statistics(features) -> tuple[torch.Tensor, torch.Tensor]:
    """features: (N, D), N >= 2 -> (mean (D,), unbiased covariance (D, D)), both float64."""
    features = torch.as_tensor(features, dtype=torch.float64)
    if features.dim() != 2 or features.shape[0] < 2:
        raise ValueError(f"feature_statistics expects features (N, D) with N >= 2, got {tuple(features.shape)}")
    mu = features.mean(0)
    centred = features - mu
    return mu, centred.T @ centred / (features.shape[0] - 1)


@torch.no_grad()
def classifier_features(classifier, images: torch.Tensor, batch: int = 500) -> torch.Tensor:
    """images: (N, C, H, W) in [-1, 1] -> the classifier's feature layer (N, D), float32 on the CPU."""
    device = next(classifier.parameters()).device
    return torch.cat([classifier.features(x.to(device)).float().cpu() for x in images.split(batch)])


@torch.no_grad()
def class_accuracy(classifier, images: torch.Tensor, labels: torch.Tensor, batch: int = 500) -> float:
    """images: (N, C, H, W) in [-1, 1], labels: (N,) -> fraction the classifier labels correctly."""
    if labels.shape != images.shape[:1]:
        raise ValueError(f"class_accuracy expects one label per image, got images {tuple(images.shape)} "
                         f"and labels {tuple(labels.shape)}")
    device = next(classifier.parameters()).device
    correct = sum(int((classifier(x.to(device)).argmax(1).cpu() == y).sum())
                  for x, y in zip(images.split(batch), labels.split(batch)))
    return correct / len(labels)


def _flat(name: str, images: torch.Tensor, like: tuple | None = None) -> torch.Tensor:
    """(N, C, H, W) float images -> (N, C H W) float32, after checking shape and dtype."""
    if not isinstance(images, torch.Tensor) or images.dim() != 4 or not images.is_floating_point():
        what = f"{tuple(images.shape)} {images.dtype}" if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"memorisation: {name} must be float images (N, C, H, W) in [-1, 1], got {what}")
    if like is not None and tuple(images.shape[1:]) != like:
        raise ValueError(f"memorisation: {name} are {tuple(images.shape[1:])} images, the training set {like}")
    return images.detach().float().cpu().flatten(1)


def _two_nearest(queries: torch.Tensor, train: torch.Tensor, chunk: int, candidates: int = 4):
    """queries: (N, P), train: (M, P), M >= 2 -> (distances (N, 2), indices (N, 2)) of the two nearest
    training rows in L2.  Candidates are found with |q|^2 + |t|^2 - 2 q.t over chunks of ``chunk``
    training rows, then their distances are recomputed as |q - t| in float64 (exact copies give 0)."""
    k = min(candidates, len(train))
    train_sq = train.pow(2).sum(1)
    best_d = torch.full((len(queries), k), float("inf"))
    best_i = torch.zeros((len(queries), k), dtype=torch.long)
    for start in range(0, len(train), chunk):
        block = train[start:start + chunk]
        d2 = train_sq[start:start + chunk] - 2 * queries @ block.T  # (N, chunk); |q|^2 is the same in every row
        block_d, block_i = d2.topk(min(k, len(block)), dim=1, largest=False)
        best_d, order = torch.cat([best_d, block_d], 1).topk(k, dim=1, largest=False)
        best_i = torch.cat([best_i, block_i + start], 1).gather(1, order)
    exact = (queries.double()[:, None, :] - train[best_i].double()).norm(dim=2)  # (N, k)
    exact, order = exact.sort(dim=1, stable=True)
    return exact[:, :2], best_i.gather(1, order)[:, :2]


def memorisation(samples: torch.Tensor, train: torch.Tensor, reference: torch.Tensor, chunk: int = 8192,
                 query_batch: int = 1024) -> dict:
    """Nearest-neighbour memorisation check in pixel space (model units, [-1, 1]).

    samples: (N, C, H, W) generated images; train: (M, C, H, W) the training set, M >= 2;
    reference: (K, C, H, W) held-out real images, the yardstick of how close genuinely new images
    come to the training set.  ``chunk`` training images (and ``query_batch`` queries) are
    compared at a time, so 60k x 1024 training pixels fit in memory.

    Returns ``{"nn_distance_median", "reference_nn_distance_median": float,
    "memorised_fraction", "reference_memorised_fraction": float, "nn_distance": (N,),
    "nearest": (N,) long}``: a sample is memorised when d(nearest) < d(second nearest) / 3 (or
    d(nearest) = 0); ``nearest`` indexes the closest training image of every sample.
    """
    train_flat = _flat("train", train)
    if len(train_flat) < 2:
        raise ValueError(f"memorisation needs at least 2 training images, got {len(train_flat)}")
    shape = tuple(train.shape[1:])
    out = {}
    for name, images in (("", samples), ("reference_", reference)):
        queries = _flat("samples" if not name else "reference", images, shape)
        if len(queries) == 0:
            raise ValueError(f"memorisation: no {'samples' if not name else 'reference images'} given")
        pairs = [_two_nearest(q, train_flat, chunk) for q in queries.split(query_batch)]
        d = torch.cat([p[0] for p in pairs])
        memorised = (d[:, 0] * 3 < d[:, 1]) | (d[:, 0] == 0)
        out[f"{name}nn_distance_median"] = float(d[:, 0].median())
        out[f"{name}memorised_fraction"] = float(memorised.double().mean())
        if not name:
            out["nn_distance"] = d[:, 0]
            out["nearest"] = torch.cat([p[1][:, 0] for p in pairs])
    return out
