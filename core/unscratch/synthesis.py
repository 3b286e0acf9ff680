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
each side). The patch search and the vote are in unscratch.patch_search; unscratch.metrics
measures a fill (`seam_ratio`, `grain_ratio`; benchmarks/fill_texture.py).
"""
from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from .patch_search import Level, Matcher, as3, dilate, vote

PATCH = 7                 # px: patch side
MIN_RADIUS = 4.0          # px: holes whose inscribed radius is below this keep the smooth fill
COARSE_SIZE = 12.0        # px: the hole's width at the coarsest level
MAX_HOLE_PIXELS = 600_000  # larger components keep the smooth fill (synthesis time grows with area)
GUIDE_WEIGHT = 0.5        # weight of the guide's low frequencies against the patch SSD
GUIDE_SIGMA = 0.67        # the guide's low frequencies: Gaussian of this many patch radii
SEAM_SIGMA = 1.0          # px: smoothing of the border difference before the membrane (0: none)
BEST_BELOW = 1            # levels below this rebuild by the sharp vote in their iterations,
                          # not the mean


# ------------------------------------------------------------------------------------- helpers
def _down(x: np.ndarray) -> np.ndarray:
    h, w = x.shape[:2]
    return cv2.resize(x, ((w + 1) // 2, (h + 1) // 2), interpolation=cv2.INTER_AREA)


def inscribed_radius(hole: np.ndarray) -> float:
    """The largest distance from a hole pixel to the nearest known pixel (half the hole's width)."""
    if not hole.any():
        return 0.0
    padded = np.pad(hole.astype(np.uint8), 1)
    return float(cv2.distanceTransform(padded, cv2.DIST_L2, 3).max())


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
    planes3 = as3(np.asarray(planes, np.float32))
    hole = np.asarray(hole, bool)
    if not hole.any():
        return planes.copy()
    if guide is None:
        from .classical import ClassicalInpainter
        guide = ClassicalInpainter()(np.concatenate([planes3, hole[:, :, None].astype(np.float32)],
                                                    axis=2))
    guide3 = as3(np.asarray(guide, np.float32))
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
        pyramid_f.append(as3(_down(f)))
        pyramid_h.append(_down(h.astype(np.float32)) > 0)
        pyramid_a.append(_down(pyramid_a[-1].astype(np.float32)) > 0)
    n = len(pyramid_f)

    nnf = cost = None
    prev = None
    est = None
    for lv in range(n - 1, -1, -1):
        if cancel is not None and cancel():
            from .tiles import Cancelled
            raise Cancelled("cancelled")
        L = Level(pyramid_f[lv], pyramid_h[lv], pyramid_a[lv], r)
        if not L.valid.any():  # no intact patch here: keep the guide
            if lv == 0:
                return filled[:, :, 0] if squeeze else filled
            continue
        L.low = cv2.GaussianBlur(L.img, (0, 0), GUIDE_SIGMA * r).reshape(L.H * L.W, -1)
        M = Matcher(L, r, guide_weight, rng)
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
            est, _ = vote(L, est, nnf, cost, M.offsets, best=False)
            M.set_estimate(est)
            cost = M.distance(est, L.targets, nnf)
            em, pm, radius = (3, 2, 8) if lv > 0 else (2, 2, 4)
        for _ in range(em):
            M.search(est, nnf, cost, pm, radius)
            est, _ = vote(L, est, nnf, cost, M.offsets, best=lv < BEST_BELOW)
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
    ring_mask = dilate(hole_p, 1) & ~hole_p & inside
    ring = np.flatnonzero(ring_mask)
    out, ring_votes = vote(L, est, nnf, cost, M.offsets, best=True, ring=ring)
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
        smooth = as3(num) / np.maximum(den, 1e-6)[:, :, None]
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
                from .tiles import Cancelled
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
        from .tiles import run_tiled
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
