"""A tile-class loss: each reconstructed tile must be nearer its own class's texture than any other's.

Pixel losses average: an arrow is a line of a few pixels over grass, and a reconstruction that
draws plain grass there loses little L1 but reads as grass (every VAE before stop 34 recalled 0 %
of arrows). This loss scores the reconstruction the way the frame parser reads it: each local-view
tile is compared with every tile template K (the game's textures, `CrafterFrameParser`) as the game
would draw it at that frame's daylight with the night grain at its mean, and

    loss = -log( sum_{k of the tile's class} p_k ),    p = softmax_k( -msd_k / temperature^2 )

(less the same for the game's own frame, the grain-free copy, where one is given; not below 0),
where msd_k is the mean squared difference (pixel levels², over the tile's pixels and its grey and
two colour components, each scaled by `factor`, the undarkened-canvas factor of --night-contrast).
The class is the recorded semantic map's, i.e. the game's own state, not a parse of the frame.

How the game draws template c (u, u, 3) at daylight d, with a = 2 max(0, 1/2 - d) v (v the vignette)
and the grain at its mean M (engine.LocalView._light; tested against `CrafterNight.render`):

    T = d c + (1 - d) [ (D((1 - a) c + a M) + tint) / 2 ] = d c + beta D(c) + gamma
    D(x) = 0.4 x + 0.6 luma(x),  beta = (1 - d)(1 - a) / 2,  gamma = (1 - d)(a M + tint) / 2

gamma does not depend on the template, so every distance is a few matrix products over
precomputed template features. Asleep, the game keeps half the luma of that look plus a blue tint;
since luma(D(c)) = luma(c), that is T = (d + beta) luma(c) / 2 + (luma(gamma) + sleep tint) / 2.
"""

from __future__ import annotations

import numpy as np
import torch

# Orthonormal colour basis: the grey axis, then two colour axes (as the frame parser's).
GREY_COLOUR = torch.tensor([[1, 1, 1], [1, -1, 0], [1, 1, -2]], dtype=torch.float32)
GREY_COLOUR = GREY_COLOUR / GREY_COLOUR.norm(dim=1, keepdim=True)


class TileTemplateLoss(torch.nn.Module):
    """Soft nearest-template classification loss of the local-view tiles of reconstructed frames.

    templates: (K, u, u, 3) uint8 day look of each template; classes: (K,) class id of each;
    box: (y0, y1, x0, x1) pixel rows/cols of the local view in the frame; vignette: (y1-y0, x1-x0)
    the grain's share per pixel at full night; luma: (3,) weights; tint, sleep_tint: (3,) the
    night's and sleep's tints; grain_mean: the grain's mean level; colour: the night copy's colour
    factor; temperature: in pixel levels (see the module docstring).
    """

    def __init__(self, templates: np.ndarray, classes: np.ndarray, box: tuple[int, int, int, int],
                 vignette: np.ndarray, luma: np.ndarray, tint: np.ndarray, sleep_tint: np.ndarray,
                 grain_mean: float, colour: float, temperature: float = 4.0):
        super().__init__()
        K, u = templates.shape[:2]
        y0, y1, x0, x1 = box
        if templates.shape != (K, u, u, 3) or (y1 - y0) % u or (x1 - x0) % u:
            raise ValueError(f"templates (K, u, u, 3) must tile the local view {box}, got {templates.shape}")
        if vignette.shape != (y1 - y0, x1 - x0):
            raise ValueError(f"vignette must be {(y1 - y0, x1 - x0)}, got {vignette.shape}")
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0 pixel levels, got {temperature}")
        self.box, self.unit, self.temperature = box, u, float(temperature)
        self.rows, self.cols = (y1 - y0) // u, (x1 - x0) // u
        self.grain_mean = float(grain_mean)
        c = torch.from_numpy(templates.astype(np.float32)).reshape(K, u * u, 3)
        lum = torch.from_numpy(np.asarray(luma, np.float32))
        dc = colour * c + (1 - colour) * (c @ lum)[..., None]  # D(c)
        basis = GREY_COLOUR
        self.register_buffer("basis", basis.clone())
        self.register_buffer("c", (c @ basis.T).reshape(K, -1))  # (K, u u 3) in grey/colour
        self.register_buffer("dc", (dc @ basis.T).reshape(K, -1))
        lc = (c @ lum)[..., None].expand(K, u * u, 3)  # asleep: only the luma is left, as grey
        self.register_buffer("lc", (lc @ basis.T).reshape(K, -1))
        self.register_buffer("luma", lum)
        self.register_buffer("tint", torch.from_numpy(np.asarray(tint, np.float32)))
        self.register_buffer("sleep_tint", torch.from_numpy(np.asarray(sleep_tint, np.float32)))
        self.register_buffer("vignette", self._tiles(torch.from_numpy(vignette.astype(np.float32))[None, None]))
        n_classes = int(classes.max()) + 1
        member = torch.zeros(n_classes, K, dtype=torch.bool)
        member[torch.from_numpy(classes.astype(np.int64)), torch.arange(K)] = True
        self.register_buffer("member", member)  # (classes, K)

    def _tiles(self, img: torch.Tensor) -> torch.Tensor:
        """(n, ch, vh, vw) local view -> (n, P, u u, ch) tiles, row-major over the tile grid."""
        n, ch = img.shape[:2]
        u = self.unit
        t = img.reshape(n, ch, self.rows, u, self.cols, u).permute(0, 2, 4, 3, 5, 1)
        return t.reshape(n, self.rows * self.cols, u * u, ch)

    def logits(self, frames: torch.Tensor, daylight: torch.Tensor, sleeping: torch.Tensor,
               factor: torch.Tensor | None = None) -> torch.Tensor:
        """(n, P, K) template logits of frames (n, 3, H, W) in [-1, 1] at daylight (n,), asleep or
        not (n,); `factor` (n, 3, H, W) scales the grey and colour components of the differences
        (None = 1)."""
        y0, y1, x0, x1 = self.box
        n, P = len(frames), self.rows * self.cols
        x = self._tiles((frames.float()[:, :, y0:y1, x0:x1] + 1) * 127.5)  # (n, P, uu, 3) levels
        f2 = torch.ones_like(x) if factor is None else self._tiles(factor.float()[:, :, y0:y1, x0:x1]) ** 2
        d = daylight.float().reshape(n, 1, 1, 1)
        a = (2 * (0.5 - d)).clamp_min(0) * self.vignette  # (n, P, uu, 1) the grain's share
        beta = 0.5 * (1 - d) * (1 - a)
        gamma = 0.5 * (1 - d) * (a * self.grain_mean + self.tint)  # (n, P, uu, 3)
        out = torch.empty(n, P, len(self.c), device=x.device)
        for asleep in (False, True):
            m = sleeping.bool() == asleep
            if not m.any():
                continue
            if asleep:  # half the luma of the lit look plus a tint; L(D c) = L(c): T = alpha L(c) + gamma
                g = 0.5 * (gamma[m] @ self.luma)[..., None] + 0.5 * self.sleep_tint
                alpha, b, feats = 0.5 * (d[m] + beta[m]), None, (self.lc, None)
            else:
                g, alpha, b, feats = gamma[m], d[m], beta[m], (self.c, self.dc)
            out[m] = self._msd(x[m] - g, f2[m], alpha, b, *feats, basis=self.basis)
        return -out / self.temperature**2

    @staticmethod
    def _msd(r, w, alpha, beta, c1, c2, basis=GREY_COLOUR):
        """Mean over (uu, 3) of w (r - alpha c1_k - beta c2_k)^2 for every template k: (n, P, K),
        expanded into products with the template features. r, w (n, P, uu, 3) (r in RGB, projected
        here), alpha, beta (n, P, uu, 1) or broadcastable to it; c1, c2 (K, uu 3) (c2 may be None)
        in the grey/colour `basis` (its rows), as is `w`."""
        n, P, uu = r.shape[:3]

        def flat(v):  # (n, P, uu, 1) or broadcastable -> (n P, uu 3)
            return torch.broadcast_to(v, (n, P, uu, 1)).expand(n, P, uu, 3).reshape(n * P, -1)

        r = (r @ basis.T).reshape(n * P, -1)
        w, al = w.reshape(n * P, -1), flat(alpha)
        cross = (w * al * r) @ c1.T
        quad = (w * al * al) @ (c1 * c1).T
        if c2 is not None:
            be = flat(beta)
            cross = cross + (w * be * r) @ c2.T
            quad = quad + 2 * ((w * al * be) @ (c1 * c2).T) + (w * be * be) @ (c2 * c2).T
        msd = ((w * r * r).sum(-1, keepdim=True) - 2 * cross + quad) / r.shape[-1]
        return msd.reshape(n, P, -1)

    def forward(self, frames: torch.Tensor, daylight: torch.Tensor, sleeping: torch.Tensor,
                tiles: torch.Tensor, factor: torch.Tensor | None = None,
                reference: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(loss, accuracy) of frames (n, 3, H, W) in [-1, 1] against tile maps (n, rows, cols) of
        class ids: the mean cross-entropy over all tiles, and the share of tiles whose nearest
        template is of the right class. With `reference` (n, 3, H, W), the frames the game drew (the
        grain-free copy), each tile's loss is only what it has over the reference's: deep at night
        dark templates nearly coincide, and the game's own frame does not separate them either."""
        with torch.autocast(frames.device.type, enabled=False):
            cls = tiles.long().reshape(len(frames), -1)  # (n, P)
            if cls.shape[1] != self.rows * self.cols:
                raise ValueError(f"tile maps must be {self.rows}x{self.cols}, got {tuple(tiles.shape[1:])}")
            if (cls < 0).any() or (cls >= len(self.member)).any():
                raise ValueError(f"tile classes must be in [0, {len(self.member)}), got {cls.min()}..{cls.max()}")
            own = self.member[cls]  # (n, P, K)

            def cross_entropy(logits):  # (n, P)
                return logits.logsumexp(-1) - logits.masked_fill(~own, float("-inf")).logsumexp(-1)

            logits = self.logits(frames, daylight, sleeping, factor)
            ce = cross_entropy(logits)
            if reference is not None:
                with torch.no_grad():
                    floor = cross_entropy(self.logits(reference, daylight, sleeping, factor))
                ce = (ce - floor).clamp_min(0)
            acc = own.gather(-1, logits.argmax(-1, keepdim=True)).float().mean()
        return ce.mean(), acc.detach()
