"""The patch search behind texture synthesis: a nearest-neighbour field from the patches that touch
a hole to intact patches (compared by principal components), and the vote that rebuilds the hole
from it. Kept apart from synthesis.py, which runs it coarse to fine and blends the result in.
"""
from __future__ import annotations

import cv2
import numpy as np

FEATURES = 12             # principal components a patch is compared by
PCA_SAMPLES = 4000        # intact patches the components are computed from
OCC_WEIGHT = 20.0         # weight of the occurrence penalty, in units of the median match cost
CENTRE_VOTE = True        # the sharp vote takes each pixel's own match's centre,
                          # not the best covering patch
COHERENCE = 0.2           # a neighbour's shifted match wins if
                          # within this fraction of the best cost


# ------------------------------------------------------------------------------------- helpers
def as3(x: np.ndarray) -> np.ndarray:
    return x[:, :, None] if x.ndim == 2 else x


def dilate(mask: np.ndarray, r: int) -> np.ndarray:
    if r <= 0:
        return mask.copy()
    k = cv2.getStructuringElement(cv2.MORPH_RECT, (2 * r + 1,) * 2)
    return cv2.dilate(mask.astype(np.uint8), k) > 0


def _erode(mask: np.ndarray, r: int) -> np.ndarray:
    k = cv2.getStructuringElement(cv2.MORPH_RECT, (2 * r + 1,) * 2)
    return cv2.erode(mask.astype(np.uint8), k, borderType=cv2.BORDER_CONSTANT, borderValue=0) > 0


class Level:
    """One pyramid level, padded by 2 patch radii so every patch lies inside the arrays."""

    def __init__(self, filled: np.ndarray, hole: np.ndarray, avoid: np.ndarray, r: int):
        pad = 2 * r
        self.pad = pad
        self.h, self.w = hole.shape
        img = cv2.copyMakeBorder(filled, pad, pad, pad, pad, cv2.BORDER_REFLECT_101)
        self.img = as3(img).astype(np.float32)
        self.H, self.W = self.img.shape[:2]
        self.hole = np.pad(hole, pad)
        inside = np.zeros((self.H, self.W), bool)
        inside[pad:pad + self.h, pad:pad + self.w] = True
        # a source patch lies wholly on known pixels of the window
        self.valid = _erode(inside & ~self.hole & ~np.pad(avoid, pad), r)
        # every patch that touches the hole is a target
        self.targets = np.flatnonzero(dilate(self.hole, r) & inside)
        self.target_of = np.full(self.H * self.W, -1, np.int64)
        self.target_of[self.targets] = np.arange(self.targets.size)
        self.low = None  # low frequencies of the guide, set by the caller


def _principal_axes(cov: np.ndarray, k: int, iterations: int = 40) -> np.ndarray:
    """The k leading eigenvectors (rows) of a symmetric positive semi-definite matrix, by subspace
    iteration from a fixed start: LAPACK's full eigh took 0.2 s for 147x147 on a busy 2-core
    machine."""
    n = cov.shape[0]
    k = min(k, n)
    q = np.linalg.qr(np.eye(n, k) + np.linspace(0.0, 1.0, n * k).reshape(n, k))[0]
    for _ in range(iterations):
        q = np.linalg.qr(cov @ q)[0]
    # order by the Rayleigh quotient (the subspace's own eigen-decomposition is k x k)
    w, v = np.linalg.eigh(q.T @ cov @ q)
    return (q @ v[:, ::-1]).T


# ------------------------------------------------------------------------------------- matching
class Matcher:
    """Approximate nearest-neighbour field from the patches touching the hole to intact ones.

    A patch is compared by its first FEATURES principal components (of this level's intact patches),
    computed for every pixel at once by filtering: the same ranking as the full squared difference
    up to the fine grain, which no match can predict anyway, at a fraction of the cost."""

    def __init__(self, level: Level, r: int, guide_weight: float, rng: np.random.Generator):
        self.L, self.r, self.rng = level, r, rng
        W = level.W
        C = level.img.shape[2]
        dy, dx = np.mgrid[-r:r + 1, -r:r + 1]
        self.offsets = (dy * W + dx).ravel()
        self.valid_flat = level.valid.ravel()
        n_px = (2 * r + 1) ** 2 * C
        pool = np.flatnonzero(self.valid_flat)
        sample = pool[rng.integers(0, pool.size, min(PCA_SAMPLES, pool.size))]
        flat = level.img.reshape(-1, C)
        vectors = np.stack([flat[sample + o] for o in self.offsets],
                           axis=1).reshape(sample.size, -1)
        vectors = vectors.astype(np.float64)
        vectors -= vectors.mean(axis=0)
        vt = _principal_axes(vectors.T @ vectors, FEATURES)
        k = vt.shape[0]
        # kernels[k][c]: the k-th component's weights on channel c, as a (2r+1)² correlation kernel
        self.kernels = (vt[:k].reshape(k, 2 * r + 1, 2 * r + 1, C)
                        / np.sqrt(n_px)).astype(np.float32)
        self.low = np.sqrt(guide_weight / C) * level.low if guide_weight > 0 else None
        self.feat = None
        self.penalty = None  # per source centre: how much its pixels are already used

    def set_occurrence(self, nnf: np.ndarray, cost: np.ndarray) -> None:
        """Penalise sources in proportion to how often their pixels are already copied (the
        occurrence map of Kaspar et al.'s self-tuning texture optimisation): without it the
        matches of a smooth first estimate crowd on the flattest patches and the fill washes out."""
        if OCC_WEIGHT <= 0:
            return
        L = self.L
        occ = np.bincount((nnf[:, None] + self.offsets[None, :]).ravel(),
                          minlength=L.H * L.W).astype(np.float32)
        # copies of a source pixel: a coherent copy of a region covers each of its pixels once per
        # patch offset; only what is copied more than once costs, so coherent copies stay free
        occ = cv2.blur(occ.reshape(L.H, L.W), (2 * self.r + 1,) * 2).ravel() / self.offsets.size
        scale = OCC_WEIGHT * float(np.median(cost))
        self.penalty = np.maximum(occ - 1.0, 0.0) * np.float32(scale)

    def set_estimate(self, est: np.ndarray) -> None:
        """Features of every patch of the estimate `est` (flat HW×C)."""
        L = self.L
        img = est.reshape(L.H, L.W, -1)
        planes = [sum(cv2.filter2D(np.ascontiguousarray(img[:, :, c]), -1, kern[:, :, c],
                                   borderType=cv2.BORDER_REFLECT) for c in range(img.shape[2]))
                  for kern in self.kernels]
        feat = np.stack(planes, axis=2).reshape(L.H * L.W, -1)
        if self.low is not None:
            feat = np.concatenate([feat, self.low], axis=1)
        self.feat = np.ascontiguousarray(feat, np.float32)

    def distance(self, est: np.ndarray, t: np.ndarray, s: np.ndarray) -> np.ndarray:
        """Squared feature distance of target patches (centres t, flat indices) and source patches
        (centres s), the guide term included; `est` must be the one last given to set_estimate."""
        diff = self.feat[t] - self.feat[s]
        d = np.einsum("ij,ij->i", diff, diff)
        if self.penalty is not None:
            d += self.penalty[s]
        return d

    def improve(self, est, t, nnf, cost, cand, bonus: float = 0.0):
        """Keep `cand` (source centres, -1 = none) where it is valid and better; by `bonus` (a
        fraction of the cost) better for a neighbour's shifted match, so regions copy coherent
        pieces rather than single pixels from everywhere."""
        ok = cand >= 0
        if not ok.any():
            return
        idx = np.flatnonzero(ok)
        c = cand[idx]
        ok2 = self.valid_flat[c]
        idx, c = idx[ok2], c[ok2]
        if idx.size == 0:
            return
        d = self.distance(est, t[idx], c)
        better = d * (1.0 - bonus) < cost[idx]
        nnf[idx[better]] = c[better]
        cost[idx[better]] = d[better]

    def search(self, est, nnf, cost, iterations: int, radius: int, jumps=(4, 2, 1)):
        L = self.L
        t = L.targets
        ty, tx = np.divmod(t, L.W)
        for _ in range(iterations):
            for k in jumps:
                for dy, dx in ((0, k), (0, -k), (k, 0), (-k, 0)):
                    ny, nx = ty - dy, tx - dx  # neighbour that lies k px back along the direction
                    inb = (ny >= 0) & (ny < L.H) & (nx >= 0) & (nx < L.W)
                    nb = np.full(t.size, -1, np.int64)
                    nb[inb] = L.target_of[ny[inb] * L.W + nx[inb]]
                    cand = np.full(t.size, -1, np.int64)
                    has = nb >= 0
                    src = nnf[nb[has]]
                    sy, sx = np.divmod(src, L.W)
                    sy, sx = sy + dy, sx + dx
                    inside = (sy >= 0) & (sy < L.H) & (sx >= 0) & (sx < L.W)
                    where = np.flatnonzero(has)
                    cand[where[inside]] = sy[inside] * L.W + sx[inside]
                    self.improve(est, t, nnf, cost, cand, COHERENCE)
            rad = radius
            while rad >= 1:
                sy, sx = np.divmod(nnf, L.W)
                sy = sy + self.rng.integers(-rad, rad + 1, t.size)
                sx = sx + self.rng.integers(-rad, rad + 1, t.size)
                inside = (sy >= 0) & (sy < L.H) & (sx >= 0) & (sx < L.W)
                cand = np.where(inside, sy * L.W + sx, -1)
                self.improve(est, t, nnf, cost, cand)
                rad //= 2

    def random_sources(self, n: int) -> np.ndarray:
        pool = np.flatnonzero(self.valid_flat)
        return pool[self.rng.integers(0, pool.size, n)]


# ------------------------------------------------------------------------------------- voting
def vote(level: Level, est: np.ndarray, nnf: np.ndarray, cost: np.ndarray, offsets: np.ndarray,
         best: bool, ring: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Rebuild the hole from the matched patches: a weighted mean of the overlapping patches' votes
    (`best=False`), or a sharp vote: each pixel's own match's centre (CENTRE_VOTE), else the vote of
    the best-matching patch that covers it. Returns the new estimate (flat) and, when `ring` (flat
    indices of known pixels) is given, the votes there."""
    t = level.targets
    n = est.shape[0]
    C = est.shape[1]
    if best and CENTRE_VOTE:
        value = np.zeros((n, C), np.float32)
        value[t] = est[nnf]
        covered = np.zeros(n, bool)
        covered[t] = True
    elif best:
        best_cost = np.full(n, np.inf, np.float32)
        value = np.zeros((n, C), np.float32)
        for o in offsets:
            p = t + o
            better = cost < best_cost[p]
            pb = p[better]
            best_cost[pb] = cost[better]
            value[pb] = est[nnf[better] + o]
        covered = np.isfinite(best_cost)
    else:
        sigma2 = max(float(np.percentile(cost, 75)), 1e-8)
        w = np.exp(-cost / (2 * sigma2)).astype(np.float32) + 1e-12
        acc = np.zeros((n, C), np.float32)
        wsum = np.zeros(n, np.float32)
        for o in offsets:
            p = t + o
            acc[p] += w[:, None] * est[nnf + o]
            wsum[p] += w
        covered = wsum > 0
        value = acc / np.maximum(wsum, 1e-20)[:, None]
    hole = level.hole.ravel() & covered
    out = est.copy()
    out[hole] = value[hole]
    ring_votes = value[ring] if ring is not None else None
    return out, ring_votes
