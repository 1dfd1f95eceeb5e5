"""Keys, mouse and frames of one X display through python-xlib (XTest input, XGetImage grabs).

Minetest reads input only while its window has X input focus, and there is no window manager to
give it: `focus()` sets it. Keys and buttons are pressed and released with XTest, so they reach
the client like a real keyboard's; the mouse moves relative to the window's centre, where the
client puts the pointer back every frame.
"""

from __future__ import annotations

import time

import numpy as np


def _xlib():
    try:
        from Xlib import XK, X, display
        from Xlib.ext import xtest
    except ImportError as e:
        raise ImportError(
            "the Minetest env needs python-xlib: pip install -e '.[minetest]' (or pip install python-xlib)"
        ) from e
    return X, XK, display, xtest


class XSession:
    """A connection to the display `name` whose screen is `size` (W, H) and holds the client's window."""

    def __init__(self, name: str, size: tuple[int, int]):
        X, XK, display, xtest = _xlib()
        self._X, self._XK, self._xtest = X, XK, xtest
        self.d = display.Display(name)
        if not self.d.has_extension("XTEST"):
            self.d.close()
            raise RuntimeError(f"the X display {name} has no XTEST extension (needed to send input)")
        self.root = self.d.screen().root
        self.size = (int(size[0]), int(size[1]))
        self.centre = (self.size[0] // 2, self.size[1] // 2)
        self.window = None
        self.held_keys: set[int] = set()
        self.held_buttons: set[int] = set()

    # ------------------------------------------------------------ window and focus

    def find_window(self):
        """The client's top-level window once it is mapped at full size, else None."""
        for w in self.root.query_tree().children:
            try:
                attrs = w.get_attributes()
                geom = w.get_geometry()
            except Exception:  # noqa: BLE001 - a window can vanish between the two calls
                continue
            if attrs.map_state == self._X.IsViewable and (geom.width, geom.height) == self.size:
                return w
        return None

    def focus(self) -> bool:
        """Give the client's window the input focus if it lacks it; False while there is no window."""
        if self.window is None:
            self.window = self.find_window()
            if self.window is None:
                return False
        if self.d.get_input_focus().focus != self.window:
            self.window.set_input_focus(self._X.RevertToParent, self._X.CurrentTime)
            self.d.sync()
        return True

    def forget_window(self) -> None:
        """Drop the window (the client restarted); releases what was held."""
        self.release_all()
        self.window = None

    # ------------------------------------------------------------ keys and buttons

    def keycode(self, keysym_name: str) -> int:
        """The keycode of an X keysym name ("w", "space", "Shift_L", "F1")."""
        sym = self._XK.string_to_keysym(keysym_name)
        code = self.d.keysym_to_keycode(sym)
        if not sym or not code:
            raise ValueError(f"no keycode for the X key {keysym_name!r}")
        return code

    def set_keys(self, keys: set[int]) -> None:
        """Hold exactly the keycodes `keys`: press the new ones, release the rest."""
        X = self._X
        for k in self.held_keys - keys:
            self._xtest.fake_input(self.d, X.KeyRelease, k)
        for k in keys - self.held_keys:
            self._xtest.fake_input(self.d, X.KeyPress, k)
        self.held_keys = set(keys)

    def set_buttons(self, buttons: set[int]) -> None:
        """Hold exactly the mouse buttons `buttons` (1 left, 2 middle, 3 right)."""
        X = self._X
        for b in self.held_buttons - buttons:
            self._xtest.fake_input(self.d, X.ButtonRelease, b)
        for b in buttons - self.held_buttons:
            self._xtest.fake_input(self.d, X.ButtonPress, b)
        self.held_buttons = set(buttons)

    def tap(self, keysym_name: str) -> None:
        """Press and release one key."""
        code = self.keycode(keysym_name)
        self._xtest.fake_input(self.d, self._X.KeyPress, code)
        self.d.sync()
        time.sleep(0.05)
        self._xtest.fake_input(self.d, self._X.KeyRelease, code)
        self.d.sync()

    def release_all(self) -> None:
        self.set_keys(set())
        self.set_buttons(set())
        self.d.sync()

    # ------------------------------------------------------------ pointer

    def pointer(self) -> tuple[int, int]:
        p = self.root.query_pointer()
        return p.root_x, p.root_y

    def move(self, dx: int, dy: int) -> None:
        """Put the pointer `dx, dy` pixels from the window's centre (the client reads it as a turn)."""
        cx, cy = self.centre
        x = min(max(cx + int(dx), 0), self.size[0] - 1)
        y = min(max(cy + int(dy), 0), self.size[1] - 1)
        self._xtest.fake_input(self.d, self._X.MotionNotify, x=x, y=y)

    def flush(self) -> None:
        self.d.sync()

    # ------------------------------------------------------------ frames

    def grab(self) -> np.ndarray:
        """The screen as (H, W, 3) uint8 RGB (XGetImage gives BGRX)."""
        w, h = self.size
        image = self.root.get_image(0, 0, w, h, self._X.ZPixmap, 0xFFFFFFFF)
        data = np.frombuffer(image.data, np.uint8)
        return data.reshape(h, w, 4)[:, :, 2::-1].copy()

    def close(self) -> None:
        try:
            self.release_all()
        except Exception:  # noqa: BLE001 - the server may be gone already
            pass
        try:
            self.d.close()
        except Exception:  # noqa: BLE001
            pass
