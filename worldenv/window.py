"""A pygame window that shows frames scaled up (render_mode="human"); pygame is imported lazily."""

from __future__ import annotations

import numpy as np


class FrameWindow:
    """Shows (H, W, 3) uint8 frames `scale` times larger; opens on the first frame."""

    def __init__(self, title: str, scale: int = 8):
        self.title, self.scale = title, scale
        self._screen = None

    def show(self, frame: np.ndarray) -> None:
        import pygame

        h, w = frame.shape[:2]
        size = (w * self.scale, h * self.scale)
        if self._screen is None:
            pygame.init()
            self._screen = pygame.display.set_mode(size)
            pygame.display.set_caption(self.title)
        surf = pygame.surfarray.make_surface(np.ascontiguousarray(frame.transpose(1, 0, 2)))
        self._screen.blit(pygame.transform.scale(surf, size), (0, 0))
        pygame.event.pump()
        pygame.display.flip()

    def close(self) -> None:
        if self._screen is not None:
            import pygame

            pygame.display.quit()
            self._screen = None


class RendersFrames:
    """render()/close() for envs that keep their last frame in `_obs` and a FrameWindow in `_window`."""

    render_mode: str | None
    _obs: np.ndarray | None
    _window: FrameWindow

    def render(self):
        if self._obs is None:
            return None
        if self.render_mode == "human":
            self._window.show(self._obs)
            return None
        return self._obs.copy()

    def close(self):
        self._window.close()
