"""Read rendered Crafter frames back into tile classes and inventory counts.

The metrics of DESIGN.md ("Tile accuracy", "tile-class validity") need a parser for frames,
real or generated. A frame of `size` pixels with a `view` of tiles is cut into
`unit = size // view` pixel tiles: the top `view[1] - item_rows` rows are the local view, the
bottom `item_rows` rows (2 for views 9..15 wide) the inventory.

Local-view tiles are classified by the nearest template. The templates are crafter's own
textures at the tile size, composed with crafter's own drawing code (`engine._draw`,
`engine._draw_alpha`): the 12 materials, the grey 127 drawn outside the world (class 0) and
every object over each material it can stand on (the player's five facing/sleep textures over
grass, sand, path and lava; cows, zombies and skeletons over grass, sand and path; arrows over
those and water and lava; plants over grass). Classes are the semantic map's ids (materials
1..12, player 13, cow 14, zombie 15, skeleton 16, arrow 17, plant 18).

Daylight is modelled the way `engine.LocalView._light` renders it, as an exact affine function
of the day template `c` with per-pixel noise:

    frame = d * c + (1 - d) * (G + q * v * h) + gray noise,   q = max(0, 1 - 2 d)

with `G = (0.6 L(c) + 0.4 c) / 2 + tint / 2` (the desaturated and tinted night image),
`v` crafter's vignette, `h = (79.5 - 0.6 L(c) - 0.4 c) / 2` (what the mean night noise adds)
and gray noise of std `(1 - d) q v 27.4 / 2` (the noise is uniform(32, 127), gray, so the
chroma of a pixel carries no noise at all). Sleeping maps the lit frame to half its luma
plus a blue tint. The parser estimates one daylight `d` and the sleeping flag per frame (a
grid search on the central tiles, where the noise is weakest), then classifies every tile
by a noise-weighted distance to the templates rendered at that daylight: chroma counts
fully, luma is down-weighted by its expected noise variance. Everything is matrix products
over precomputed template features, so thousands of frames parse per second on a CPU.

Inventory slots are matched against crafter's `ItemView` rendering of that slot's item with
counts 0 (black) to 9; the inventory is drawn without daylight.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from crafter import constants, engine

INVENTORY_ITEMS: tuple[str, ...] = tuple(constants.items)
MATERIAL_CLASSES: dict[str, int] = {name: i + 1 for i, name in enumerate(constants.materials)}
OBJECT_CLASSES: dict[str, int] = {"player": 13, "cow": 14, "zombie": 15, "skeleton": 16, "arrow": 17, "plant": 18}
VOID_CLASS = 0  # outside the world: crafter leaves the canvas grey 127
CLASS_NAMES: tuple[str, ...] = ("void",) + tuple(constants.materials) + tuple(OBJECT_CLASSES)

# Default threshold on `ParsedFrames.distance` for tile-class validity. Real frames stay
# below about 2 (day) to 4 (the noisiest night tiles); uniform noise scores above 40.
DEFAULT_TAU = 8.0

_WALK = ("grass", "sand", "path")
# (texture, class, backgrounds it can be drawn over); see crafter/objects.py for who walks where.
_OBJECTS: tuple[tuple[str, int, tuple[str, ...]], ...] = (
    *((f"player-{f}", 13, _WALK + ("lava",)) for f in ("left", "right", "up", "down", "sleep")),
    ("cow", 14, _WALK),
    ("zombie", 15, _WALK),
    ("skeleton", 16, _WALK),
    *((f"arrow-{f}", 17, _WALK + ("water", "lava")) for f in ("left", "right", "up", "down")),
    ("plant", 18, ("grass",)),
    ("plant-ripe", 18, ("grass",)),
)

_LUMA = np.array([0.299, 0.587, 0.114])  # PIL's "L" conversion, used by ImageEnhance.Color
_NIGHT_TINT = np.array([0.0, 16.0, 64.0])
_SLEEP_TINT = np.array([0.0, 0.0, 16.0])
_NOISE_MEAN = (32 + 127) / 2  # engine.LocalView._noise: uniform(32, 127), gray
_NOISE_STD = (127 - 32) / math.sqrt(12)
_VIGNETTE_STDDEV = 0.5
_CENTER = 127.5  # pixel values are centred for float32 precision
# Orthonormal colour basis: luma-like gray axis first, then two chroma axes.
_COLOR = np.array(
    [[1, 1, 1] / np.sqrt(3), [1, -1, 0] / np.sqrt(2), [1, 1, -2] / np.sqrt(6)], dtype=np.float64
)
_SIGMA0_SQ = 1.0  # variance of rounding and model error per colour component
_COARSE = np.linspace(0.0, 1.0, 21)
_FINE = np.linspace(-0.05, 0.05, 11)
_LIT, _SLEEP = 0, 1


class ParsedFrames(NamedTuple):
    """What `CrafterFrameParser.parse` reads from N frames (no N axis for a single frame).

    tiles: (N, rows, cols) int64 tile classes of the local view (semantic ids, 0 = outside).
    inventory: (N, 16) int64 counts in `INVENTORY_ITEMS` order.
    distance: (N, rows, cols) float32 RMS distance (pixel levels, luma noise-weighted) of
        each tile to its nearest template at the frame's estimated lighting.
    daylight: (N,) float32 estimated daylight in [0, 1].
    sleeping: (N,) bool, whether the frame looks like crafter's sleeping view.
    """

    tiles: np.ndarray
    inventory: np.ndarray
    distance: np.ndarray
    daylight: np.ndarray
    sleeping: np.ndarray


def _luma(img: np.ndarray) -> np.ndarray:
    return img @ _LUMA


class CrafterFrameParser:
    """Classify the tiles and read the inventory of rendered Crafter frames.

    `size=(width, height)` and `view=(cols, rows)` as given to `crafter.Env` / `CrafterEnv`;
    the tiles must be square (`width // cols == height // rows`). `parse` takes uint8 frames
    (N, height, width, 3) or one (height, width, 3).
    """

    def __init__(self, size: tuple[int, int] = (64, 64), view: tuple[int, int] = (9, 9), batch_size: int = 256):
        size = (int(size[0]), int(size[1]))
        view = (int(view[0]), int(view[1]))
        if min(size) < 1 or min(view) < 1:
            raise ValueError(f"size and view must be positive, got size={size} view={view}")
        unit = size[0] // view[0]
        if unit != size[1] // view[1] or unit < 2:
            raise ValueError(f"size {size} and view {view} must give square tiles of >= 2 px (size // view equal)")
        item_rows = math.ceil(len(INVENTORY_ITEMS) / view[0])
        rows = view[1] - item_rows
        if rows < 1:
            raise ValueError(f"view {view} leaves no room for the local view above {item_rows} inventory rows")
        self.size, self.view, self.unit = size, view, unit
        self.rows, self.cols, self.item_rows = rows, view[0], item_rows
        self.batch_size = int(batch_size)
        self.frame_shape = (size[1], size[0], 3)
        self._border = ((size[0] - unit * view[0]) // 2, (size[1] - unit * view[1]) // 2)
        self._textures = engine.Textures(constants.root / "assets")
        self._build_tile_templates()
        self._build_inventory_templates()

    # ------------------------------------------------------------------ templates
    def _texture(self, name: str, px: int) -> np.ndarray:
        return self._textures.get(name, (px, px))

    def _build_tile_templates(self) -> None:
        u = self.unit
        images, classes, names = [], [], []

        def add(canvas_xy: np.ndarray, cls: int, name: str) -> None:
            img = canvas_xy.transpose(1, 0, 2).astype(np.float64)  # crafter draws [x, y]
            for other in images:
                if np.array_equal(other, img):
                    return
            images.append(img)
            classes.append(cls)
            names.append(name)

        add(np.full((u, u, 3), 127, np.uint8), VOID_CLASS, "void")
        for material, cls in MATERIAL_CLASSES.items():
            canvas = np.zeros((u, u, 3), np.uint8)
            engine._draw(canvas, (0, 0), self._texture(material, u))
            add(canvas, cls, material)
        for texture, cls, backgrounds in _OBJECTS:
            for background in backgrounds:
                canvas = np.zeros((u, u, 3), np.uint8)
                engine._draw(canvas, (0, 0), self._texture(background, u))
                engine._draw_alpha(canvas, (0, 0), self._texture(texture, u))
                add(canvas, cls, f"{texture}/{background}")
        self.template_images = np.stack(images).astype(np.uint8)  # (K, u, u, 3) day look
        self.template_classes = np.array(classes, np.int64)
        self.template_names = tuple(names)
        K, npx = len(images), u * u

        day = np.stack(images)  # (K, u, u, 3)
        base = 0.6 * _luma(day)[..., None] + 0.4 * day  # ImageEnhance.Color(0.4)
        night = 0.5 * base + 0.5 * _NIGHT_TINT  # ... then _tint(night, (0, 16, 64), 0.5)
        noise = 0.5 * (_NOISE_MEAN - base)  # what the mean noise adds per unit of mask
        gray = np.ones(3)

        def sleep(img: np.ndarray, offset: bool) -> np.ndarray:
            return 0.5 * _luma(img)[..., None] * gray + (0.5 * _SLEEP_TINT if offset else 0.0)

        def split(img: np.ndarray, centre: bool) -> tuple[np.ndarray, np.ndarray]:
            img = (img - _CENTER if centre else img) @ _COLOR.T
            return img[..., 0].reshape(K, npx), img[..., 1:].reshape(K, 2 * npx)

        # Vignette of the local view (engine.LocalView._vignette), cut into tiles.
        w, h = self.cols * u, self.rows * u
        xs, ys = np.meshgrid(np.linspace(-1, 1, w), np.linspace(-1, 1, h))  # (h, w): frame layout
        vig = 1 - np.exp(-0.5 * (xs**2 + ys**2) / _VIGNETTE_STDDEV**2)
        vig = vig.reshape(self.rows, u, self.cols, u).transpose(0, 2, 1, 3).reshape(-1, npx)  # (P, u*u)
        P = vig.shape[0]
        self._vig_l = vig.astype(np.float32)
        self._vig_c = np.repeat(vig, 2, axis=1).astype(np.float32)
        self._vig_ms = (vig**2).mean(1)  # (P,) mean squared vignette, for the noise variance

        # Basis vectors of the lighting model per part (luma / chroma): a = (d, 1-d, (1-d) q, delta)
        # multiplies (c, G, v*h, -1); delta models the truncation to uint8 (about half a level).
        c_l, c_c = split(day, True)
        g_l, g_c = split(night, True)
        h_l, h_c = split(noise, False)
        sc_l, sc_c = split(sleep(day, True), True)
        sg_l, _ = split(sleep(night, True), True)
        sh_l, _ = split(sleep(noise, False), False)
        minus_one = np.full(npx, -math.sqrt(3.0))  # the gray vector (-1, -1, -1) on the luma axis
        self._sleep_chroma = sc_c[0].astype(np.float32)  # sleeping: every pixel has the tint's chroma

        def gram(b1, b2, b3, vig_part, b4):
            # b1, b2, b3: (K, D); b3 is scaled per position by the vignette; b4: (D,) or None.
            vb3 = vig_part[:, None, :] * b3[None]  # (P, K, D)
            basis = np.empty((P, K, 4, b1.shape[1]))
            basis[:, :, 0] = b1[None]
            basis[:, :, 1] = b2[None]
            basis[:, :, 2] = vb3
            basis[:, :, 3] = 0.0 if b4 is None else b4
            return np.einsum("pkid,pkjd->pkij", basis, basis).reshape(P * K, 16)

        self._gram = {
            (_LIT, "l"): gram(c_l, g_l, h_l, vig, minus_one),
            (_LIT, "c"): gram(c_c, g_c, h_c, np.repeat(vig, 2, axis=1), None),
            (_SLEEP, "l"): gram(sc_l, sg_l, sh_l, vig, minus_one),
        }
        f32 = np.float32
        # Feature matrices: luma . [c, G, sleep c, sleep G], (v luma) . [h, sleep h],
        # chroma . [c, G], (v chroma) . h.
        self._w_l = np.concatenate([c_l, g_l, sc_l, sg_l]).T.astype(f32)  # (npx, 4K)
        self._w_vl = np.concatenate([h_l, sh_l]).T.astype(f32)  # (npx, 2K)
        self._w_c = np.concatenate([c_c, g_c]).T.astype(f32)  # (2npx, 2K)
        self._w_vc = h_c.T.astype(f32)  # (2npx, K)
        self.num_templates = K
        self.num_positions = P
        # The central 3x3 tiles (or fewer) estimate the frame's lighting: least noise there.
        r0, c0 = max(0, self.rows // 2 - 1), max(0, self.cols // 2 - 1)
        grid = np.arange(P).reshape(self.rows, self.cols)
        self._central = grid[r0 : r0 + 3, c0 : c0 + 3].ravel()

    def _build_inventory_templates(self) -> None:
        u, cols, n_items = self.unit, self.cols, len(INVENTORY_ITEMS)
        view = engine.ItemView(self._textures, [cols, self.item_rows])
        unit = np.array([u, u])
        slots = np.zeros((10, n_items, u, u, 3), np.float32)  # count 0 stays black
        for count in range(1, 10):
            canvas = view({name: count for name in INVENTORY_ITEMS}, unit).transpose(1, 0, 2)
            for i in range(n_items):
                r, c = divmod(i, cols)
                slots[count, i] = canvas[r * u : (r + 1) * u, c * u : (c + 1) * u]
        self._inv_templates = slots.transpose(1, 0, 2, 3, 4).reshape(n_items, 10, -1) - _CENTER  # (16, 10, D)
        self._inv_norms = (self._inv_templates**2).sum(-1)  # (16, 10)

    # ------------------------------------------------------------------ parsing
    def _check(self, frames, name: str = "frames") -> tuple[np.ndarray, bool]:
        expected = f"(N, {self.frame_shape[0]}, {self.frame_shape[1]}, 3) or {self.frame_shape}"
        if not isinstance(frames, np.ndarray):
            raise ValueError(f"{name} must be a numpy uint8 array of shape {expected}, got {type(frames).__name__}")
        if frames.dtype != np.uint8:
            raise ValueError(f"{name} must be uint8 of shape {expected}, got dtype {frames.dtype}")
        single = frames.ndim == 3
        if single:
            frames = frames[None]
        if frames.ndim != 4 or frames.shape[1:] != self.frame_shape:
            raise ValueError(
                f"{name} must have shape {expected} (height, width, RGB for size={self.size}, "
                f"view={self.view}), got {frames.shape if not single else frames.shape[1:]}"
            )
        return frames, single

    def parse(self, frames: np.ndarray) -> ParsedFrames:
        """Tiles, inventory, distances and lighting of uint8 frames (N, H, W, 3) or (H, W, 3)."""
        frames, single = self._check(frames)
        n = len(frames)
        tiles = np.empty((n, self.rows, self.cols), np.int64)
        dist = np.empty((n, self.rows, self.cols), np.float32)
        inv = np.empty((n, len(INVENTORY_ITEMS)), np.int64)
        light = np.empty(n, np.float32)
        asleep = np.empty(n, bool)
        for s in range(0, n, self.batch_size):
            e = min(n, s + self.batch_size)
            t, d, lt, sl = self._parse_tiles(frames[s:e])
            tiles[s:e], dist[s:e], light[s:e], asleep[s:e] = t, d, lt, sl
            inv[s:e] = self._parse_inventory(frames[s:e])
        out = ParsedFrames(tiles, inv, dist, light, asleep)
        if single:
            out = ParsedFrames(*(a[0] for a in out))
        return out

    def _parse_inventory(self, frames: np.ndarray) -> np.ndarray:
        u, cols, n_items = self.unit, self.cols, len(INVENTORY_ITEMS)
        bx, by = self._border
        top = by + self.rows * u
        region = frames[:, top : top + self.item_rows * u, bx : bx + cols * u].astype(np.float32) - _CENTER
        region = region.reshape(len(frames), self.item_rows, u, cols, u, 3).transpose(0, 1, 3, 2, 4, 5)
        slots = region.reshape(len(frames), self.item_rows * cols, u * u * 3)[:, :n_items]  # (N, 16, D)
        cross = np.matmul(slots.transpose(1, 0, 2), self._inv_templates.transpose(0, 2, 1))  # (16, N, 10)
        d = self._inv_norms[:, None, :] - 2 * cross
        return d.argmin(-1).T.astype(np.int64)

    def _features(self, frames: np.ndarray) -> dict:
        n, u, P = len(frames), self.unit, self.num_positions
        K, npx = self.num_templates, u * u
        bx, by = self._border
        x = frames[:, by : by + self.rows * u, bx : bx + self.cols * u].astype(np.float32) - _CENTER
        x = x.reshape(n, self.rows, u, self.cols, u, 3).transpose(0, 1, 3, 2, 4, 5).reshape(n, P, npx, 3)
        x = x @ _COLOR.T.astype(np.float32)
        xl = np.ascontiguousarray(x[..., 0])  # (n, P, npx)
        xc = x[..., 1:].reshape(n, P, 2 * npx)
        fl = (xl.reshape(n * P, npx) @ self._w_l).reshape(n, P, 4, K)
        fvl = ((xl * self._vig_l).reshape(n * P, npx) @ self._w_vl).reshape(n, P, 2, K)
        fc = (xc.reshape(n * P, 2 * npx) @ self._w_c).reshape(n, P, 2, K)
        fvc = ((xc * self._vig_c).reshape(n * P, 2 * npx) @ self._w_vc).reshape(n, P, 1, K)
        minus_sum = -math.sqrt(3.0) * xl.sum(-1)  # (n, P): luma . b4
        return {
            (_LIT, "l"): np.concatenate([fl[:, :, :2], fvl[:, :, :1]], 2),  # (n, P, 3, K)
            (_LIT, "c"): np.concatenate([fc, fvc], 2),
            (_SLEEP, "l"): np.concatenate([fl[:, :, 2:], fvl[:, :, 1:]], 2),
            "b4": minus_sum,
            "xxl": (xl**2).sum(-1),
            "xxc": (xc**2).sum(-1),
            "sleep_c": ((xc - self._sleep_chroma) ** 2).sum(-1),
        }

    def _noise_var(self, d: np.ndarray, mode: int) -> np.ndarray:
        """Luma-axis noise variance (n, P) of each tile at daylight d (n,)."""
        q = np.clip(1 - 2 * d, 0, None)
        amp = (1 - d) * 0.5 * q * _NOISE_STD * (0.5 if mode == _SLEEP else 1.0)
        return 3 * (amp**2)[:, None] * self._vig_ms[None, :]

    def _dist(self, feats: dict, d: np.ndarray, mode: int, pos: np.ndarray | None = None) -> np.ndarray:
        """Noise-weighted squared distances (n, p, K) of the tiles `pos` to all templates at
        per-frame daylight d (n,) in `mode`; also returns the log-determinant term (n, p)."""
        K = self.num_templates
        d = d.astype(np.float64)
        q = np.clip(1 - 2 * d, 0, None)
        # uint8 truncation: about half a level lit, and again (after halving) when sleeping
        delta = np.where(d < 1, 0.5, 0.0) * (0.5 if mode == _SLEEP else 1.0) + (0.5 if mode == _SLEEP else 0.0)
        a = np.stack([d, 1 - d, (1 - d) * q, delta], 1)  # (n, 4)
        aa = (a[:, :, None] * a[:, None, :]).reshape(len(d), 16)
        sel = slice(None) if pos is None else pos
        n_pos = self.num_positions if pos is None else len(pos)
        var = self._noise_var(d, mode)[:, sel]  # (n, p)
        w = (_SIGMA0_SQ / (_SIGMA0_SQ + var)).astype(np.float32)
        logdet = (self.unit**2) * np.log1p(var / _SIGMA0_SQ)

        def part(key, norm, b4):
            f = feats[key][:, sel]  # (n, p, 3, K)
            lin = np.einsum("npik,ni->npk", f, a[:, :3].astype(np.float32))
            if b4 is not None:
                lin = lin + (a[:, 3:4] * b4[:, sel]).astype(np.float32)[:, :, None]
            gram = self._gram[key].reshape(self.num_positions, K, 16)[sel]  # (p, K, 16)
            quad = (gram.reshape(n_pos * K, 16) @ aa.T).T.reshape(len(d), n_pos, K).astype(np.float32)
            return norm[:, sel, None] - 2 * lin + quad

        lum = part((mode, "l"), feats["xxl"], feats["b4"])
        if mode == _LIT:
            rest = part((_LIT, "c"), feats["xxc"], None)
        else:
            rest = feats["sleep_c"][:, sel, None]
        return w[:, :, None] * lum + rest, logdet

    def _parse_tiles(self, frames: np.ndarray):
        n = len(frames)
        feats = self._features(frames)
        central = self._central
        # Coarse grid over daylight for both modes on the central tiles, then refine.
        scores = np.empty((2, len(_COARSE), n))
        for mode in (_LIT, _SLEEP):
            for g, dl in enumerate(_COARSE):
                dd, logdet = self._dist(feats, np.full(n, dl), mode, central)
                scores[mode, g] = (dd.min(-1) / _SIGMA0_SQ + logdet).sum(-1)
        flat = scores.reshape(-1, n).argmin(0)
        mode_n, g_n = np.divmod(flat, len(_COARSE))
        best_d = _COARSE[g_n]
        best_score = np.full(n, np.inf)
        refined = best_d.copy()
        for mode in (_LIT, _SLEEP):
            m = mode_n == mode
            if not m.any():
                continue
            sub = {k: v[m] for k, v in feats.items()}
            for off in _FINE:
                cand = np.clip(best_d[m] + off, 0.0, 1.0)
                dd, logdet = self._dist(sub, cand, mode, central)
                sc = (dd.min(-1) / _SIGMA0_SQ + logdet).sum(-1)
                better = sc < best_score[m]
                idx = np.flatnonzero(m)[better]
                best_score[idx] = sc[better]
                refined[idx] = cand[better]
        tiles = np.empty((n, self.num_positions), np.int64)
        dist = np.empty((n, self.num_positions), np.float32)
        for mode in (_LIT, _SLEEP):
            m = mode_n == mode
            if not m.any():
                continue
            sub = {k: v[m] for k, v in feats.items()}
            dd, _ = self._dist(sub, refined[m], mode)
            k = dd.argmin(-1)
            tiles[m] = self.template_classes[k]
            best = np.take_along_axis(dd, k[..., None], -1)[..., 0]
            dist[m] = np.sqrt(np.maximum(best, 0) / (3 * self.unit**2))
        shape = (n, self.rows, self.cols)
        return tiles.reshape(shape), dist.reshape(shape), refined.astype(np.float32), mode_n == _SLEEP

    # ------------------------------------------------------------------ metrics
    def _pair(self, pred: np.ndarray, real: np.ndarray) -> tuple[ParsedFrames, ParsedFrames]:
        pred, _ = self._check(pred, "pred_frames")
        real, _ = self._check(real, "real_frames")
        if pred.shape != real.shape:
            raise ValueError(f"pred_frames {pred.shape} and real_frames {real.shape} must have the same shape")
        return self.parse(pred), self.parse(real)

    def tile_accuracy(self, pred_frames: np.ndarray, real_frames: np.ndarray) -> float:
        """Share of local-view tiles whose parsed class matches the parsed real frame's."""
        p, r = self._pair(pred_frames, real_frames)
        return float((p.tiles == r.tiles).mean())

    def inventory_accuracy(self, pred_frames: np.ndarray, real_frames: np.ndarray) -> float:
        """Share of the 16 inventory counts read equal in the predicted and real frames."""
        p, r = self._pair(pred_frames, real_frames)
        return float((p.inventory == r.inventory).mean())

    def tile_validity(self, frames: np.ndarray, tau: float = DEFAULT_TAU) -> float:
        """Share of local-view tiles within distance `tau` of some template (at the frame's light)."""
        return float((self.parse(frames).distance <= tau).mean())
