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
fully, luma is down-weighted by its expected noise variance. A weak prior (rough class
frequencies, the player on the centre tile) only decides tiles the night noise leaves
ambiguous. Everything is a few large matrix products over precomputed template features, so
thousands of frames parse per second on a CPU.

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
OBJECT_CLASSES: dict[str, int] = {
    "player": 13,
    "cow": 14,
    "zombie": 15,
    "skeleton": 16,
    "arrow": 17,
    "plant": 18,
}
VOID_CLASS = 0  # outside the world: crafter leaves the canvas grey 127
CLASS_NAMES: tuple[str, ...] = ("void",) + tuple(constants.materials) + tuple(OBJECT_CLASSES)

# Default threshold on `ParsedFrames.distance` for tile-class validity. Real frames, day,
# night and asleep, stay below about 1.1; real frames plus gaussian pixel noise of std s score
# about s; blurred or shifted frames score 8-50 on most textured tiles, uniform noise 50-85.
DEFAULT_TAU = 5.0


def inventory_rows(view: tuple[int, int]) -> int:
    """Tile rows the inventory takes at the bottom of a (width, height) tile view; the local view
    of the world is the rows above it (crafter's Env lays its frame out this way)."""
    return math.ceil(len(INVENTORY_ITEMS) / view[0])

def template_parts(names) -> tuple[list[str], list[str]]:
    """(objects, grounds) of template names: "object/ground" (a creature, plant, arrow or the
    player drawn over its ground) or "ground" (a bare material, object "")."""
    return ([n.split("/")[0] if "/" in n else "" for n in names], [n.split("/")[-1] for n in names])


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

# Rough class frequencies: a prior that only decides tiles the pixels leave ambiguous (the
# darkest corners of the night view). The player is always drawn on the centre tile.
_CLASS_PRIOR = {
    "void": 0.02,
    "water": 0.08,
    "grass": 0.45,
    "stone": 0.1,
    "path": 0.05,
    "sand": 0.08,
    "tree": 0.08,
    "lava": 0.01,
    "coal": 0.01,
    "iron": 0.003,
    "diamond": 0.001,
    "table": 0.002,
    "furnace": 0.001,
    "player": 1e-4,
    "cow": 0.01,
    "zombie": 0.005,
    "skeleton": 0.003,
    "arrow": 0.001,
    "plant": 0.003,
}
_PLAYER_AT_CENTRE = 0.98

# How engine.LocalView lights the view (also used by crafter_night.py to re-render it)
LUMA = np.array([0.299, 0.587, 0.114])  # PIL's "L" conversion, used by ImageEnhance.Color
NIGHT_TINT = np.array([0.0, 16.0, 64.0])
SLEEP_TINT = np.array([0.0, 0.0, 16.0])
NOISE_RANGE = (32.0, 127.0)  # engine.LocalView._noise: uniform, gray, a new draw every frame
_NOISE_MEAN = sum(NOISE_RANGE) / 2
_NOISE_STD = (NOISE_RANGE[1] - NOISE_RANGE[0]) / math.sqrt(12)
_VIGNETTE_STDDEV = 0.5
_CENTER = 127.5  # pixel values are centred for float32 precision
# Orthonormal colour basis: luma-like gray axis first, then two chroma axes.
_COLOR = np.array(
    [[1, 1, 1] / np.sqrt(3), [1, -1, 0] / np.sqrt(2), [1, 1, -2] / np.sqrt(6)], dtype=np.float64
)
_SIGMA0_SQ = 1.0  # variance of rounding and model error per colour component
_GRID = np.linspace(0.0, 1.0, 11)  # daylight levels searched per frame
_LIT, _SLEEP = 0, 1


class ParsedFrames(NamedTuple):
    """What `CrafterFrameParser.parse` reads from N frames (no N axis for a single frame).

    tiles: (N, rows, cols) int64 tile classes of the local view (semantic ids, 0 = outside).
    inventory: (N, 16) int64 counts in `INVENTORY_ITEMS` order.
    distance: (N, rows, cols) float32 RMS distance of each tile to its nearest template at the
        frame's estimated lighting, in pixel levels per colour component (luma divided by its
        expected night noise, so real frames score about 0.2-1 by day and by night).
    daylight: (N,) float32 estimated daylight in [0, 1].
    sleeping: (N,) bool, whether the frame looks like crafter's sleeping view.
    """

    tiles: np.ndarray
    inventory: np.ndarray
    distance: np.ndarray
    daylight: np.ndarray
    sleeping: np.ndarray

    def validity(self, tau: float = DEFAULT_TAU) -> float:
        """Share of local-view tiles within distance `tau` of some template (see `tile_validity`)."""
        return float((self.distance <= tau).mean())


def local_view_vignette(width: int, height: int) -> np.ndarray:
    """(height, width) share of night noise per pixel of the local view (engine.LocalView._vignette,
    in frame layout): 0 at the centre, near 1 at the corners."""
    xs, ys = np.meshgrid(np.linspace(-1, 1, width), np.linspace(-1, 1, height))
    return 1 - np.exp(-0.5 * (xs**2 + ys**2) / _VIGNETTE_STDDEV**2)


def _luma(img: np.ndarray) -> np.ndarray:
    return img @ LUMA


class CrafterFrameParser:
    """Classify the tiles and read the inventory of rendered Crafter frames.

    `size=(width, height)` and `view=(cols, rows)` as given to `crafter.Env` / `CrafterEnv`;
    the tiles must be square (`width // cols == height // rows`). `parse` takes uint8 frames
    (N, height, width, 3) or one (height, width, 3).
    """

    def __init__(
        self, size: tuple[int, int] = (64, 64), view: tuple[int, int] = (9, 9), batch_size: int = 512
    ):
        size = (int(size[0]), int(size[1]))
        view = (int(view[0]), int(view[1]))
        if min(size) < 1 or min(view) < 1:
            raise ValueError(f"size and view must be positive, got size={size} view={view}")
        unit = size[0] // view[0]
        if unit != size[1] // view[1] or unit < 2:
            raise ValueError(
                f"size {size} and view {view} must give square tiles of >= 2 px (size // view equal)"
            )
        item_rows = inventory_rows(view)
        rows = view[1] - item_rows
        if rows < 1:
            raise ValueError(
                f"view {view} leaves no room for the local view above {item_rows} inventory rows"
            )
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
        night = 0.5 * base + 0.5 * NIGHT_TINT  # ... then _tint(night, (0, 16, 64), 0.5)
        noise = 0.5 * (_NOISE_MEAN - base)  # what the mean noise adds per unit of mask

        def sleep(img: np.ndarray, tint: bool) -> np.ndarray:  # LocalView._sleep (linear part)
            return 0.5 * _luma(img)[..., None] * np.ones(3) + (0.5 * SLEEP_TINT if tint else 0.0)

        def lc(img: np.ndarray, centre: bool) -> np.ndarray:
            """(K, u, u, 3) RGB -> (K, 3 u u): luma axis of each pixel, then its two chroma axes."""
            img = (img - _CENTER if centre else img) @ _COLOR.T
            return np.concatenate([img[..., 0].reshape(K, npx), img[..., 1:].reshape(K, 2 * npx)], 1)

        # Vignette of the local view (engine.LocalView._vignette) in frame layout, cut into tiles.
        vig = local_view_vignette(self.cols * u, self.rows * u)
        vig = vig.reshape(self.rows, u, self.cols, u).transpose(0, 2, 1, 3).reshape(-1, npx)  # (P, u*u)
        P = len(vig)
        vig3 = np.concatenate([vig, np.repeat(vig, 2, axis=1)], 1)  # (P, 3 u u)
        self._vig_ms = (vig**2).mean(1)  # (P,) for the noise variance of each tile

        # The lighting model's basis per template: frame = sum_i a_i b_i with
        # a = (d, 1 - d, (1 - d) q, delta) and b = (c, G, v * h, -gray); delta models the
        # truncation to uint8. Sleeping frames only keep luma (chroma = the tint's).
        lit_c, lit_g, lit_h = lc(day, True), lc(night, True), lc(noise, False)
        slp = [lc(sleep(day, True), True), lc(sleep(night, True), True), lc(sleep(noise, False), False)]
        self._sleep_chroma = slp[0][0, npx:].astype(np.float32)
        slp_c, slp_g, slp_h = (b[:, :npx] for b in slp)
        minus_gray = np.concatenate([np.full(npx, -math.sqrt(3.0)), np.zeros(2 * npx)])

        def gram(b1, b2, b3, v, b4):  # (P * K, 16) Gram matrices of the basis at each position
            basis = np.empty((P, K, 4, b1.shape[1]))
            basis[:, :, 0], basis[:, :, 1] = b1, b2
            basis[:, :, 2] = v[:, None, :] * b3[None]
            basis[:, :, 3] = b4
            return np.einsum("pkid,pkjd->pkij", basis, basis).reshape(P * K, 16).astype(np.float32)

        L, C = slice(0, npx), slice(npx, 3 * npx)
        self._gram_lit_l = gram(lit_c[:, L], lit_g[:, L], lit_h[:, L], vig, minus_gray[L])
        self._gram_lit_c = gram(lit_c[:, C], lit_g[:, C], lit_h[:, C], vig3[:, C], minus_gray[C])
        self._gram_slp = gram(slp_c, slp_g, slp_h, vig, minus_gray[L])
        f32 = np.float32
        self._lit = (lit_c.astype(f32), lit_g.astype(f32), lit_h.astype(f32), minus_gray.astype(f32))
        self._slp = (slp_c.astype(f32), slp_g.astype(f32), slp_h.astype(f32), minus_gray[L].astype(f32))
        self._vig_l, self._vig_c = vig.astype(f32), vig3[:, C].astype(f32)
        self._w_cls = {  # stage B (classification) features: tile . [c, G]
            _LIT: np.concatenate([lit_c, lit_g]).T.astype(f32),
            _SLEEP: np.concatenate([slp_c, slp_g]).T.astype(f32),
        }
        # Stage A (lighting) features of the central tiles: luma . [c, G, sleep c, sleep G],
        # (v luma) . [h, sleep h], chroma . [c, G], (v chroma) . h.
        self._wa_l = np.concatenate([lit_c[:, L], lit_g[:, L], slp_c, slp_g]).T.astype(f32)
        self._wa_vl = np.concatenate([lit_h[:, L], slp_h]).T.astype(f32)
        self._wa_c = np.concatenate([lit_c[:, C], lit_g[:, C]]).T.astype(f32)
        self._wa_vc = lit_h[:, C].T.astype(f32)
        self.num_templates, self.num_positions = K, P
        # Prior penalty -2 sigma0^2 log(prior) per position and template, in distance units.
        counts = np.bincount(self.template_classes, minlength=len(CLASS_NAMES))
        prior = (
            np.array([_CLASS_PRIOR[CLASS_NAMES[c]] for c in self.template_classes])
            / counts[self.template_classes]
        )
        prior = np.tile(prior, (P, 1))
        centre = (self.rows // 2) * self.cols + self.cols // 2
        player = self.template_classes == OBJECT_CLASSES["player"]
        prior[centre] *= (1 - _PLAYER_AT_CENTRE) / prior[centre][~player].sum()
        prior[centre, player] = _PLAYER_AT_CENTRE / player.sum()
        self._penalty = (-2 * _SIGMA0_SQ * np.log(prior)).astype(np.float32)  # (P, K)
        # The central 3x3 tiles (or fewer) estimate the frame's lighting: least noise there.
        r0, c0 = max(0, self.rows // 2 - 1), max(0, self.cols // 2 - 1)
        self._central = np.arange(P).reshape(self.rows, self.cols)[r0 : r0 + 3, c0 : c0 + 3].ravel()
        self._build_light_search()

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
            raise ValueError(
                f"{name} must be a numpy uint8 array of shape {expected}, got {type(frames).__name__}"
            )
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

    @property
    def view_origin(self) -> tuple[int, int]:
        """The pixel (x, y) of the local view's top-left corner (frames may have a border)."""
        return self._border

    @property
    def textures(self):
        """crafter's texture store (`engine.Textures`) the templates were drawn from."""
        return self._textures

    @property
    def view_bottom(self) -> int:
        """The pixel row where the local view ends and the inventory begins."""
        return self._border[1] + self.rows * self.unit

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
            tiles[s:e], dist[s:e], light[s:e], asleep[s:e] = self.template_classes[t], d, lt, sl
            inv[s:e] = self._parse_inventory(frames[s:e])
        out = ParsedFrames(tiles, inv, dist, light, asleep)
        if single:
            out = ParsedFrames(*(a[0] for a in out))
        return out

    def templates(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Nearest template of every local-view tile, (N, rows, cols) indices into
        `template_names` (which say more than the class: the player's facing, a ripe plant), the
        daylight (N,) and the sleeping flag (N,) of uint8 frames (N, H, W, 3) or (H, W, 3)."""
        frames, single = self._check(frames)
        out = [self._parse_tiles(frames[s : s + self.batch_size]) for s in range(0, len(frames), self.batch_size)]
        k, light, asleep = (np.concatenate([o[i] for o in out]) for i in (0, 2, 3))
        return (k[0], light[0], asleep[0]) if single else (k, light, asleep)

    def inventory(self, frames: np.ndarray) -> np.ndarray:
        """Only the 16 inventory counts of frames (N, H, W, 3) -> (N, 16), or (H, W, 3) -> (16,).

        Much cheaper than `parse` (no tile classification or light search): the inventory is drawn
        without daylight, so it is a plain nearest-template lookup.
        """
        frames, single = self._check(frames)
        inv = self._parse_inventory(frames)
        return inv[0] if single else inv

    def _parse_inventory(self, frames: np.ndarray) -> np.ndarray:
        u, cols, n_items = self.unit, self.cols, len(INVENTORY_ITEMS)
        bx, by = self._border
        top = by + self.rows * u
        region = frames[:, top : top + self.item_rows * u, bx : bx + cols * u].astype(np.float32) - _CENTER
        region = region.reshape(len(frames), self.item_rows, u, cols, u, 3).transpose(0, 1, 3, 2, 4, 5)
        slots = region.reshape(len(frames), self.item_rows * cols, u * u * 3)[:, :n_items]  # (N, 16, D)
        cross = np.einsum("nsd,scd->nsc", slots, self._inv_templates)  # (N, 16, 10)
        return (self._inv_norms - 2 * cross).argmin(-1).astype(np.int64)

    def _tiles_lc(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Local-view tiles in the luma/chroma basis: (n, P, u u) and (n, P, 2 u u), centred."""
        n, u, P = len(frames), self.unit, self.num_positions
        bx, by = self._border
        x = frames[:, by : by + self.rows * u, bx : bx + self.cols * u].astype(np.float32)
        r, g, b = x[..., 0], x[..., 1], x[..., 2]
        lum = (r + g + b - 3 * _CENTER) * np.float32(1 / math.sqrt(3))
        chroma = np.stack(
            [(r - g) * np.float32(1 / math.sqrt(2)), (r + g - 2 * b) * np.float32(1 / math.sqrt(6))], -1
        )
        lum = lum.reshape(n, self.rows, u, self.cols, u).transpose(0, 1, 3, 2, 4).reshape(n, P, u * u)
        chroma = chroma.reshape(n, self.rows, u, self.cols, u, 2).transpose(0, 1, 3, 2, 4, 5)
        return lum, chroma.reshape(n, P, 2 * u * u)

    def _weights(self, d: np.ndarray, mode: int, pos) -> tuple[np.ndarray, np.ndarray]:
        """Luma weights and log-determinant terms (d.shape + (p,)) of the tiles `pos` at daylight d."""
        q = np.clip(1 - 2 * d, 0, None)
        amp = (1 - d) * 0.5 * q * _NOISE_STD * (0.5 if mode == _SLEEP else 1.0)
        var = 3 * (amp**2)[..., None] * self._vig_ms[pos]  # noise variance on the luma axis
        return (_SIGMA0_SQ / (_SIGMA0_SQ + var)).astype(np.float32), (self.unit**2) * np.log1p(
            var / _SIGMA0_SQ
        )

    @staticmethod
    def _coefs(d: np.ndarray, mode: int) -> np.ndarray:
        q = np.clip(1 - 2 * d, 0, None)
        # uint8 truncation: about half a level lit, and again (after halving) when sleeping
        if mode == _LIT:
            delta = np.where(d < 1, 0.5, 0.0)
        else:
            delta = np.where(d < 1, 0.25, 0.0) + 0.5
        return np.stack([d, 1 - d, (1 - d) * q, delta], -1)

    def _quad(self, gram: np.ndarray, a: np.ndarray, pos) -> np.ndarray:
        """a^T Gram a for coefficients a (n, F, 4) at tiles pos: (n, p, K, F)."""
        n, F = a.shape[:2]
        K = self.num_templates
        aa = (a[..., :, None] * a[..., None, :]).reshape(n * F, 16).astype(np.float32)
        g = gram.reshape(self.num_positions, K, 16)[pos]
        return (g.reshape(-1, 16) @ aa.T).reshape(len(g), K, n, F).transpose(2, 0, 1, 3)

    def _build_light_search(self) -> None:
        """Precompute the coarse grid search over daylight on the central tiles (both modes).
        It weighs luma fully (the central tiles are the least noisy) so that each mode is one
        matrix product; the finer search after it uses the noise weights."""
        pos, grid = self._central, _GRID
        self._search = {}
        for mode in (_LIT, _SLEEP):
            a = self._coefs(grid, mode)  # (F, 4)
            lin = -2 * a[:, :3]  # (F, 3)
            if mode == _LIT:
                psi = np.concatenate([lin, lin], 1)  # (F, 6)
                quad = (
                    self._quad(self._gram_lit_l, a[None], pos)[0]
                    + self._quad(self._gram_lit_c, a[None], pos)[0]
                )
            else:
                psi = lin
                quad = self._quad(self._gram_slp, a[None], pos)[0]  # (p, K, F)
            self._search[mode] = (
                psi.astype(np.float32),
                np.ascontiguousarray(quad.transpose(2, 0, 1) + self._penalty[pos], np.float32)[:, :, None, :],
                (-2 * a[:, 3]).astype(np.float32),  # (F,)
            )

    def _estimate_light(self, lum: np.ndarray, chroma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-frame daylight and sleeping flag from the central tiles: the best fit over a grid of
        daylight levels in both modes, then a finer search around it with each tile's best
        template fixed. (Few, large matrix products: many small ones stall threaded BLAS.)"""
        n, K, pos = len(lum), self.num_templates, self._central
        xl = np.ascontiguousarray(lum[:, pos].transpose(1, 0, 2))  # (p, n, npx)
        xc = np.ascontiguousarray(chroma[:, pos].transpose(1, 0, 2))
        p = xl.shape[0]

        def feats(x, wmat, rows):
            out = (x.reshape(-1, x.shape[-1]) @ wmat).reshape(p, n, rows, K)
            return out.transpose(2, 0, 1, 3)  # (rows, p, n, K)

        fl = feats(xl, self._wa_l, 4)
        fvl = feats(xl * self._vig_l[pos][:, None], self._wa_vl, 2)
        fc = feats(xc, self._wa_c, 2)
        fvc = feats(xc * self._vig_c[pos][:, None], self._wa_vc, 1)
        phi = {
            _LIT: np.concatenate([fl[:2], fvl[:1], fc, fvc]),  # (6, p, n, K)
            _SLEEP: np.concatenate([fl[2:], fvl[1:]]),  # (3, p, n, K)
        }
        xxl, b4x = (xl**2).sum(-1), -math.sqrt(3.0) * xl.sum(-1)  # (p, n)
        rest = {_LIT: (xc**2).sum(-1), _SLEEP: ((xc - self._sleep_chroma) ** 2).sum(-1)}
        n_grid = len(_GRID)
        scores = np.zeros((n, 2, n_grid))
        for mode in (_LIT, _SLEEP):
            psi, quad, a4 = self._search[mode]
            J = psi.shape[-1]
            dist = (psi @ phi[mode].reshape(J, -1)).reshape(n_grid, p, n, K)
            dist += quad
            const = xxl + rest[mode] + a4[:, None, None] * b4x  # (F, p, n)
            scores[:, mode] = (dist.min(-1) + const).sum(1).T
        flat = scores.reshape(n, -1).argmin(1)
        mode_n, g = np.divmod(flat, n_grid)
        daylight = _GRID[g].astype(np.float64)
        step = _GRID[1] - _GRID[0]
        for mode in (_LIT, _SLEEP):
            m = np.flatnonzero(mode_n == mode)
            if len(m) == 0:
                continue
            psi, quad, _ = self._search[mode]
            ph = phi[mode][:, :, m]  # (J, p, n_m, K)
            # each central tile's best template at the chosen grid level
            fit = np.einsum("jpnk,nj->pnk", ph, psi[g[m]]) + quad[g[m], :, 0].transpose(1, 0, 2)
            k = fit.argmin(-1)  # (p, n_m)
            sel = np.take_along_axis(ph, k[None, :, :, None], 3)[..., 0].transpose(2, 1, 0)  # (n_m, p, J)
            cand = np.clip(daylight[m, None] + np.linspace(-step, step, 41), 0.0, 1.0)  # (n_m, F)
            a = self._coefs(cand, mode)
            aa = (a[..., :, None] * a[..., None, :]).reshape(len(m), -1, 16)
            w, logdet = self._weights(cand, mode, pos)  # (n_m, F, p)
            kk = pos[:, None] * K + k  # rows of the (P * K, 16) Gram tables
            b4 = b4x[:, m].T[:, None, :]  # (n_m, 1, p)
            if mode == _LIT:
                gl, gc = self._gram_lit_l[kk].transpose(1, 0, 2), self._gram_lit_c[kk].transpose(1, 0, 2)
                lum_d = (
                    xxl[:, m].T[:, None]
                    - 2 * np.einsum("nfj,npj->nfp", a[..., :3], sel[..., :3])
                    - 2 * a[..., 3:] * b4
                    + np.einsum("nfj,npj->nfp", aa, gl)
                )
                other = (
                    rest[mode][:, m].T[:, None]
                    - 2 * np.einsum("nfj,npj->nfp", a[..., :3], sel[..., 3:])
                    + np.einsum("nfj,npj->nfp", aa, gc)
                )
            else:
                gs = self._gram_slp[kk].transpose(1, 0, 2)
                lum_d = (
                    xxl[:, m].T[:, None]
                    - 2 * np.einsum("nfj,npj->nfp", a[..., :3], sel)
                    - 2 * a[..., 3:] * b4
                    + np.einsum("nfj,npj->nfp", aa, gs)
                )
                other = rest[mode][:, m].T[:, None]
            total = ((w * lum_d + other) / _SIGMA0_SQ + logdet).sum(-1)  # (n_m, F)
            daylight[m] = cand[np.arange(len(m)), total.argmin(1)]
        return daylight, mode_n == _SLEEP

    def _classify(self, lum, chroma, d: np.ndarray, mode: int) -> tuple[np.ndarray, np.ndarray]:
        """Nearest template (n, P) and its squared weighted distance, at per-frame daylight d (n,)."""
        n, P, _ = lum.shape
        K = self.num_templates
        all_pos = slice(None)
        a = self._coefs(d, mode).astype(np.float32)  # (n, 4)
        w, _ = self._weights(d, mode, all_pos)  # (n, P)
        b_c, b_g, b_h, b_4 = self._lit if mode == _LIT else self._slp
        if mode == _LIT:
            z = np.concatenate([w[..., None] * lum, chroma], -1)  # (n, P, 3 u u)
            quad = w[..., None] * self._quad(self._gram_lit_l, a[:, None], all_pos)[..., 0]
            quad += self._quad(self._gram_lit_c, a[:, None], all_pos)[..., 0]
            const = w * (lum**2).sum(-1) + (chroma**2).sum(-1)
            vig = np.concatenate([self._vig_l, self._vig_c], 1)
        else:
            z = w[..., None] * lum
            quad = w[..., None] * self._quad(self._gram_slp, a[:, None], all_pos)[..., 0]
            const = w * (lum**2).sum(-1) + ((chroma - self._sleep_chroma) ** 2).sum(-1)
            vig = self._vig_l
        f = (z.reshape(n * P, -1) @ self._w_cls[mode]).reshape(n, P, 2, K)
        cross = a[:, 0, None, None] * f[:, :, 0] + a[:, 1, None, None] * f[:, :, 1]
        cross += (a[:, 3, None] * (z @ b_4))[..., None]
        noisy = np.flatnonzero(a[:, 2] > 0)
        if len(noisy):
            zv = z[noisy] * vig
            fh = (zv.reshape(-1, zv.shape[-1]) @ b_h.T).reshape(len(noisy), P, K)
            cross[noisy] += a[noisy, 2, None, None] * fh
        dist = quad - 2 * cross
        k = (dist + self._penalty).argmin(-1)
        best = np.take_along_axis(dist, k[..., None], -1)[..., 0] + const
        return k, best

    def _parse_tiles(self, frames: np.ndarray):
        """Template indices (n, rows, cols), distances, daylight and sleeping of frames."""
        n = len(frames)
        lum, chroma = self._tiles_lc(frames)
        daylight, sleeping = self._estimate_light(lum, chroma)
        tiles = np.empty((n, self.num_positions), np.int64)
        dist = np.empty((n, self.num_positions), np.float32)
        for mode, m in ((_LIT, ~sleeping), (_SLEEP, sleeping)):
            if m.any():
                k, best = self._classify(lum[m], chroma[m], daylight[m], mode)
                tiles[m] = k
                dist[m] = np.sqrt(np.maximum(best, 0) / (3 * self.unit**2))
        shape = (n, self.rows, self.cols)
        return tiles.reshape(shape), dist.reshape(shape), daylight.astype(np.float32), sleeping

    # ------------------------------------------------------------------ metrics
    def _pair(self, pred: np.ndarray, real: np.ndarray) -> tuple[ParsedFrames, ParsedFrames]:
        pred, _ = self._check(pred, "pred_frames")
        real, _ = self._check(real, "real_frames")
        if pred.shape != real.shape:
            raise ValueError(
                f"pred_frames {pred.shape} and real_frames {real.shape} must have the same shape"
            )
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
        return self.parse(frames).validity(tau)
