"""Texture synthesis for large holes in fill mode (heal a selection).

A smooth fill (Telea, or the restorer shown nothing of the hole) is right for a scratch a few pixels
wide but shows as a pale smudge over a hole 100 px across: the grain, the knit, the foliage around
it stop at the selection's edge. Here a hole that is more than a few pixels across is filled with
pieces of the picture around it instead (written for this project after Wexler, Shechtman and
Irani's space-time completion, Barnes et al.'s PatchMatch and Kaspar et al.'s self-tuning texture
optimisation):

* coarse to fine over an image pyramid; at the coarsest level the hole is ~12 px across and the
  smooth fill (the *guide*) is the first estimate;
* at every level a nearest-neighbour field maps each patch that touches the hole to a patch of the
  intact surroundings: neighbours' matches shifted by their offset (jumps of 4, 2, 1 px, all
  evaluated at once; a shifted match wins by a small margin, so regions copy coherent pieces) and a
  random search around the current match in shrinking windows. Patches are compared by their first
  principal components (the known pixels around the hole included) plus the guide's low
  frequencies, so the synthesis follows the smooth fill's shading; a source pixel copied more than
  once costs extra, or the matches crowd on the flattest patches and the fill washes out;
* the estimate is rebuilt from the matches: a weighted mean of the overlapping patches on the
  coarse levels, each pixel's own match (its patch centre) on the finest, so texture and grain come
  from the picture itself, not from an average;
* what differs at the hole's border between the known pixels and the synthesis's own continuation
  of them is spread over the hole as a membrane (a Poisson/Laplace solve), so there is no seam.

Everything is a fixed function of the pixels and of a seed (the window's absolute position), so a
repair is reproducible. All of it runs on a window around each hole (the hole plus half its size on
each side). `seam_ratio` and `grain_ratio` measure a fill (benchmarks/fill_texture.py).
"""
from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

PATCH = 7                 # px: patch side
MIN_RADIUS = 4.0          # px: holes whose inscribed radius is below this keep the smooth fill
COARSE_SIZE = 12.0        # px: the hole's width at the coarsest level
MAX_HOLE_PIXELS = 600_000  # larger components keep the smooth fill (synthesis time grows with area)
GUIDE_WEIGHT = 0.5        # weight of the guide's low frequencies against the patch SSD
GUIDE_SIGMA = 0.67        # the guide's low frequencies: Gaussian of this many patch radii
SEAM_SIGMA = 1.0          # px: smoothing of the border difference before the membrane (0: none)
FEATURES = 12             # principal components a patch is compared by
PCA_SAMPLES = 4000        # intact patches the components are computed from
OCC_WEIGHT = 20.0         # weight of the occurrence penalty, in units of the median match cost
CENTRE_VOTE = True        # the sharp vote takes each pixel's own match's centre,
                          # not the best covering patch
COHERENCE = 0.2           # a neighbour's shifted match wins if
                          # within this fraction of the best cost
BEST_BELOW = 1            # levels below this rebuild by the sharp vote in their iterations,
                          # not the mean


# ------------------------------------------------------------------------------------- helpers
def _down(x: np.ndarray) -> np.ndarray:
    h, w = x.shape[:2]
    return cv2.resize(x, ((w + 1) // 2, (h + 1) // 2), interpolation=cv2.INTER_AREA)


def _as3(x: np.ndarray) -> np.ndarray:
    return x[:, :, None] if x.ndim == 2 else x


def _dilate(mask: np.ndarray, r: int) -> np.ndarray:
    if r <= 0:
        return mask.copy()
    k = cv2.getStructuringElement(cv2.MORPH_RECT, (2 * r + 1,) * 2)
    return cv2.dilate(mask.astype(np.uint8), k) > 0


def _erode(mask: np.ndarray, r: int) -> np.ndarray:
    k = cv2.getStructuringElement(cv2.MORPH_RECT, (2 * r + 1,) * 2)
    return cv2.erode(mask.astype(np.uint8), k, borderType=cv2.BORDER_CONSTANT, borderValue=0) > 0


def inscribed_radius(hole: np.ndarray) -> float:
    """The largest distance from a hole pixel to the nearest known pixel (half the hole's width)."""
    if not hole.any():
        return 0.0
    padded = np.pad(hole.astype(np.uint8), 1)
    return float(cv2.distanceTransform(padded, cv2.DIST_L2, 3).max())


class _Level:
    """One pyramid level, padded by 2 patch radii so every patch lies inside the arrays."""

    def __init__(self, filled: np.ndarray, hole: np.ndarray, avoid: np.ndarray, r: int):
        pad = 2 * r
        self.pad = pad
        self.h, self.w = hole.shape
        img = cv2.copyMakeBorder(filled, pad, pad, pad, pad, cv2.BORDER_REFLECT_101)
        self.img = _as3(img).astype(np.float32)
        self.H, self.W = self.img.shape[:2]
        self.hole = np.pad(hole, pad)
        inside = np.zeros((self.H, self.W), bool)
        inside[pad:pad + self.h, pad:pad + self.w] = True
        # a source patch lies wholly on known pixels of the window
        self.valid = _erode(inside & ~self.hole & ~np.pad(avoid, pad), r)
        # every patch that touches the hole is a target
        self.targets = np.flatnonzero(_dilate(self.hole, r) & inside)
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
class _Matcher:
    """Approximate nearest-neighbour field from the patches touching the hole to intact ones.

    A patch is compared by its first FEATURES principal components (of this level's intact patches),
    computed for every pixel at once by filtering: the same ranking as the full squared difference
    up to the fine grain, which no match can predict anyway, at a fraction of the cost."""

    def __init__(self, level: _Level, r: int, guide_weight: float, rng: np.random.Generator):
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
def _vote(level: _Level, est: np.ndarray, nnf: np.ndarray, cost: np.ndarray, offsets: np.ndarray,
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


# ------------------------------------------------------------------------------------- the seam
def _membrane(diff: np.ndarray, hole: np.ndarray, ring: np.ndarray, iterations: int = 2000,
              tol: float = 1e-6) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """Harmonic function on `hole` (bool HxW) equal to `diff` (HxWxC) on `ring` (the known pixels
    next to it): conjugate gradients on the 5-point Laplacian. Returns it on the hole's bounding
    box grown by 1 px, and that box."""
    ys, xs = np.nonzero(hole)
    y0, y1, x0, x1 = ys.min() - 1, ys.max() + 2, xs.min() - 1, xs.max() + 2
    hole = hole[y0:y1, x0:x1]
    ring = ring[y0:y1, x0:x1]
    diff = diff[y0:y1, x0:x1]
    m = hole.astype(np.float32)

    def shifted_sum(u):
        s = np.zeros_like(u)
        s[1:] += u[:-1]
        s[:-1] += u[1:]
        s[:, 1:] += u[:, :-1]
        s[:, :-1] += u[:, 1:]
        return s

    out = np.zeros(hole.shape + (diff.shape[2],), np.float32)
    for c in range(diff.shape[2]):
        b = shifted_sum(np.where(ring, diff[:, :, c], 0.0).astype(np.float32)) * m
        x = np.zeros_like(b)

        def A(u):
            return (4.0 * u - shifted_sum(u)) * m
        r_ = b - A(x)
        p = r_.copy()
        rs = float((r_ * r_).sum())
        b_norm = max(float((b * b).sum()), 1e-20)
        for _ in range(iterations):
            if rs <= tol * tol * b_norm:
                break
            Ap = A(p)
            alpha = rs / max(float((p * Ap).sum()), 1e-30)
            x += alpha * p
            r_ -= alpha * Ap
            rs_new = float((r_ * r_).sum())
            p = r_ + (rs_new / rs) * p
            rs = rs_new
        out[:, :, c] = x
    return out, (y0, y1, x0, x1)


# ------------------------------------------------------------------------------------- synthesis
def synthesise(planes: np.ndarray, hole: np.ndarray, guide: np.ndarray | None = None, *,
               avoid: np.ndarray | None = None, seed=(0,), patch: int = PATCH,
               guide_weight: float | None = None,
               cancel: Callable[[], bool] | None = None) -> np.ndarray:
    """Fill `hole` (bool HxW) of `planes` (float32 HxW or HxWxC in [0, 1]) with texture from the
    rest of `planes`. `guide`: a smooth fill of the hole (same shape as planes; its values inside
    the hole are used), Telea's when None. `seed`: anything numpy's default_rng takes (a window's
    position makes a repair reproducible). `avoid` (bool HxW): pixels no patch may be copied from
    (other holes; their values should be filled). Pixels outside the hole are returned unchanged."""
    guide_weight = GUIDE_WEIGHT if guide_weight is None else guide_weight
    squeeze = planes.ndim == 2
    planes3 = _as3(np.asarray(planes, np.float32))
    hole = np.asarray(hole, bool)
    if not hole.any():
        return planes.copy()
    if guide is None:
        from .classical import ClassicalInpainter
        guide = ClassicalInpainter()(np.concatenate([planes3, hole[:, :, None].astype(np.float32)],
                                                    axis=2))
    guide3 = _as3(np.asarray(guide, np.float32))
    filled = np.where(hole[:, :, None], guide3, planes3)
    r = patch // 2
    rng = np.random.default_rng(seed)

    width = 2 * inscribed_radius(hole)
    n_levels = max(0, int(np.ceil(np.log2(max(width, 1.0) / COARSE_SIZE))))
    avoid = np.zeros_like(hole) if avoid is None else np.asarray(avoid, bool) & ~hole
    pyramid_f, pyramid_h, pyramid_a = [filled], [hole], [avoid]
    for _ in range(n_levels):
        f, h = pyramid_f[-1], pyramid_h[-1]
        if min(h.shape) < 4 * patch:
            break
        pyramid_f.append(_as3(_down(f)))
        pyramid_h.append(_down(h.astype(np.float32)) > 0)
        pyramid_a.append(_down(pyramid_a[-1].astype(np.float32)) > 0)
    n = len(pyramid_f)

    nnf = cost = None
    prev = None
    est = None
    for lv in range(n - 1, -1, -1):
        if cancel is not None and cancel():
            from .engine import Cancelled
            raise Cancelled("cancelled")
        L = _Level(pyramid_f[lv], pyramid_h[lv], pyramid_a[lv], r)
        if not L.valid.any():  # no intact patch here: keep the guide
            if lv == 0:
                return filled[:, :, 0] if squeeze else filled
            continue
        L.low = cv2.GaussianBlur(L.img, (0, 0), GUIDE_SIGMA * r).reshape(L.H * L.W, -1)
        M = _Matcher(L, r, guide_weight, rng)
        guide_flat = L.img.reshape(L.H * L.W, -1)
        if prev is None:
            est = guide_flat.copy()
            M.set_estimate(est)
            nnf = M.random_sources(L.targets.size)
            cost = M.distance(est, L.targets, nnf)
            em, pm, radius = 6, 3, max(L.H, L.W)
        else:
            # the coarser level's matches, doubled, start this level; its estimate is their vote
            pL, pnnf = prev
            ty, tx = np.divmod(L.targets, L.W)
            cy = np.clip((ty - L.pad) // 2 + pL.pad, 0, pL.H - 1)
            cx = np.clip((tx - L.pad) // 2 + pL.pad, 0, pL.W - 1)
            ct = pL.target_of[cy * pL.W + cx]
            nnf = M.random_sources(L.targets.size)
            has = ct >= 0
            sy, sx = np.divmod(pnnf[ct[has]], pL.W)
            sy = (sy - pL.pad) * 2 + L.pad + (ty[has] - L.pad) % 2
            sx = (sx - pL.pad) * 2 + L.pad + (tx[has] - L.pad) % 2
            inside = (sy >= 0) & (sy < L.H) & (sx >= 0) & (sx < L.W)
            cand = np.where(inside, sy * L.W + sx, 0)
            ok = inside & M.valid_flat[cand]
            where = np.flatnonzero(has)
            nnf[where[ok]] = cand[ok]
            est = guide_flat.copy()
            cost = np.zeros(L.targets.size, np.float32)
            est, _ = _vote(L, est, nnf, cost, M.offsets, best=False)
            M.set_estimate(est)
            cost = M.distance(est, L.targets, nnf)
            em, pm, radius = (3, 2, 8) if lv > 0 else (2, 2, 4)
        for _ in range(em):
            M.search(est, nnf, cost, pm, radius)
            est, _ = _vote(L, est, nnf, cost, M.offsets, best=lv < BEST_BELOW)
            M.set_estimate(est)
            M.set_occurrence(nnf, cost)
            cost = M.distance(est, L.targets, nnf)
            radius = max(2, radius // 2) if prev is None else radius
        prev = (L, nnf)

    # finest level: each pixel from its best covering patch, then the membrane across the border
    L, nnf = prev
    M.search(est, nnf, cost, 1, 4)
    hole_p = L.hole
    inside = np.zeros_like(hole_p)
    inside[L.pad:L.pad + L.h, L.pad:L.pad + L.w] = True
    ring_mask = _dilate(hole_p, 1) & ~hole_p & inside
    ring = np.flatnonzero(ring_mask)
    out, ring_votes = _vote(L, est, nnf, cost, M.offsets, best=True, ring=ring)
    C = out.shape[1]
    out = out.reshape(L.H, L.W, C)
    known = L.img
    diff = np.zeros_like(known)
    diff.reshape(-1, C)[ring] = known.reshape(-1, C)[ring] - ring_votes
    # only the low frequencies of the mismatch: the grain on either side is not a seam
    if SEAM_SIGMA > 0:
        wr = ring_mask.astype(np.float32)
        num = cv2.GaussianBlur(diff * wr[:, :, None], (0, 0), SEAM_SIGMA)
        den = cv2.GaussianBlur(wr, (0, 0), SEAM_SIGMA)
        smooth = _as3(num) / np.maximum(den, 1e-6)[:, :, None]
    else:
        smooth = diff
    corr, (y0, y1, x0, x1) = _membrane(smooth, hole_p, ring_mask)
    out[y0:y1, x0:x1] += corr * hole_p[y0:y1, x0:x1, None]
    out = out[L.pad:L.pad + L.h, L.pad:L.pad + L.w]
    out = np.clip(out, 0.0, 1.0)
    result = np.where(hole[:, :, None], out, planes3)
    return result[:, :, 0] if squeeze else result


# ------------------------------------------------------------------------------------- fill mode
SEED = 0x7E87  # mixed with each window's absolute position
CONTEXT = 0.5  # the window around a hole: this many times its size on each side (32-256 px)


class TextureFill:
    """Fill mode's inpainter: `inner` (the smooth fill: Telea, or the restorer shown nothing of the
    hole) for thin holes; holes more than a few pixels across are synthesised from the texture
    around them, guided by `inner`'s fill (`synthesise_large`, called by api.repair_patches before
    its tiles run)."""

    def __init__(self, inner):
        self.inner = inner

    def __getattr__(self, name):  # tile size, overlap, provenance … are the inner fill's
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)

    def __call__(self, tile: np.ndarray) -> np.ndarray:
        return self.inner(tile)

    def synthesise_large(self, img, alpha: np.ndarray, emit, *, origin: tuple[int, int] = (0, 0),
                         cancel: Callable[[], bool] | None = None) -> np.ndarray:
        """Synthesise every hole component (alpha > 0, 8-connected) whose inscribed radius is at
        least MIN_RADIUS, hand its pixels, blended with weight alpha, to `emit` as an api.Patch,
        and return alpha without them (a copy; `alpha` itself when none was)."""
        from .arrays import bbox, from_float, read_block, to_float
        from .compositing import Patch
        box = bbox(alpha > 0)
        if box is None:
            return alpha
        H, W = img.shape[:2]
        by0, by1, bx0, bx1 = box
        holes = alpha[by0:by1, bx0:bx1] > 0
        n, labels, stats, _ = cv2.connectedComponentsWithStats(holes.astype(np.uint8),
                                                               connectivity=8)
        rest = alpha
        for i in range(1, n):
            x, y, bw, bh, area = (int(v) for v in stats[i])
            if min(bw, bh) < 2 * MIN_RADIUS or area > MAX_HOLE_PIXELS:
                continue
            own = labels[y:y + bh, x:x + bw] == i
            if inscribed_radius(own) < MIN_RADIUS:
                continue
            if cancel is not None and cancel():
                from .engine import Cancelled
                raise Cancelled("cancelled")
            y, x = y + by0, x + bx0
            margin = int(np.clip(CONTEXT * max(bh, bw), 32, 256))
            wy0, wy1 = max(0, y - margin), min(H, y + bh + margin)
            wx0, wx1 = max(0, x - margin), min(W, x + bw + margin)
            block = read_block(img, wy0, wy1, wx0, wx1)
            planes = to_float(block)
            if planes.ndim == 2:
                planes = planes[:, :, None]
            hole = np.zeros((wy1 - wy0, wx1 - wx0), bool)
            hole[y - wy0:y - wy0 + bh, x - wx0:x - wx0 + bw] = own
            others = (alpha[wy0:wy1, wx0:wx1] > 0) & ~hole
            guide = self._smooth_fill(planes, hole | others)
            out = synthesise(planes, hole, guide, avoid=others, cancel=cancel,
                             seed=(SEED, origin[0] + wy0, origin[1] + wx0))
            rows, cols = np.nonzero(hole)
            a = alpha[rows + wy0, cols + wx0][:, None]
            old = block[rows, cols]
            original = to_float(old)
            values = from_float(original + (out[rows, cols] - original) * a, block.dtype)
            if values.ndim == 1:
                values = values[:, None]
            emit(Patch((wy0, wy1, wx0, wx1), (rows + wy0).astype(np.int32),
                       (cols + wx0).astype(np.int32), values, old))
            if rest is alpha:
                rest = alpha.copy()
            rest[rows + wy0, cols + wx0] = 0
        return rest

    def _smooth_fill(self, planes: np.ndarray, hole: np.ndarray) -> np.ndarray:
        """`inner`'s fill of `hole` in the window `planes` (HxWxC float32), run on its own tiles."""
        from .arrays import to_rgb_float
        from .engine import run_tiled
        inner = self.inner
        wants_rgb = getattr(inner, "wants_rgb", False)
        h, w, C = planes.shape
        src = to_rgb_float(planes) if wants_rgb else planes
        tile_in = np.concatenate([src, hole[:, :, None].astype(np.float32)], axis=2)
        out = np.empty((h, w, src.shape[2]), np.float32)

        def source(y0, y1, x0, x1):
            return tile_in[y0:y1, x0:x1]

        def sink(y0, y1, x0, x1, block):
            out[y0:y1, x0:x1] = block

        run_tiled(inner, source, sink, shape=(h, w), out_channels=src.shape[2], tile=inner.tile,
                  overlap=inner.overlap, multiple=getattr(inner, "multiple", 1))
        if out.shape[2] != C:
            out = out.mean(axis=2, keepdims=True)
        return out


# ------------------------------------------------------------------------------------- measures
def _luma(img: np.ndarray) -> np.ndarray:
    f = img.astype(np.float64)
    if img.dtype.kind == "u":
        f /= np.iinfo(img.dtype).max
    return f[:, :, :3].mean(axis=2) if f.ndim == 3 else f  # alpha is not picture


def _crossing(lum: np.ndarray, region: np.ndarray) -> np.ndarray:
    """|differences| of the 4-neighbour pairs with one pixel in `region` and one outside."""
    return np.concatenate([np.abs(lum[1:] - lum[:-1])[region[1:] != region[:-1]],
                           np.abs(lum[:, 1:] - lum[:, :-1])[region[:, 1:] != region[:, :-1]]])


def _grow(mask: np.ndarray, r: int) -> np.ndarray:
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1,) * 2)
    return cv2.dilate(mask.astype(np.uint8), k) > 0


def seam_ratio(img: np.ndarray, hole: np.ndarray) -> float:
    """Border gradient ratio of a fill: mean |luminance difference| of the 4-neighbour pairs that
    cross the hole's border, over the same for pairs crossing contours 4, 6 and 8 px outside it
    (intact picture). 1: no seam; below 1 a fill smoother than its surroundings, above a step."""
    lum = _luma(img)
    border = _crossing(lum, hole).mean()
    intact = np.concatenate([_crossing(lum, _grow(hole, d)) for d in (4, 6, 8)]).mean()
    return float(border / max(intact, 1e-12))


def grain_ratio(img: np.ndarray, hole: np.ndarray) -> float:
    """Std of the luminance's high-pass (x − Gaussian(x, 1 px), clipped at ±0.08 as unscratch.grain
    does) inside the hole, 2 px in from its border, over the same in the ring 3–24 px outside it."""
    lum = _luma(img)
    hp = np.clip(lum - cv2.GaussianBlur(lum, (0, 0), 1.0), -0.08, 0.08)
    inside = ~_grow(~hole, 2)
    ring = _grow(hole, 24) & ~_grow(hole, 3)
    return float(hp[inside].std() / max(hp[ring].std(), 1e-12))
