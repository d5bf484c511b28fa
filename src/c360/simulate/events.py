"""Store events as columns, before they become text: what shoppers and attackers both produce."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

VIEW, CART, REMOVE, PURCHASE = range(4)
EVENT_TYPES = ["view", "cart", "remove_from_cart", "purchase"]


@dataclass
class Events:
    """One row per event. ``session`` indexes a table of session ids; ``agent`` the agents pool."""

    time_s: np.ndarray  # seconds since the epoch, UTC
    kind: np.ndarray  # VIEW / CART / REMOVE / PURCHASE
    product: np.ndarray  # index into the store catalogue
    user_id: np.ndarray
    session: np.ndarray
    ip: np.ndarray  # IPv4 as an integer
    agent: np.ndarray

    @property
    def size(self) -> int:
        return self.time_s.size

    @staticmethod
    def concat(parts: list[Events]) -> Events:
        return Events(
            **{
                name: np.concatenate([getattr(p, name) for p in parts])
                for name in ("time_s", "kind", "product", "user_id", "session", "ip", "agent")
            }
        )

    def take(self, index: np.ndarray) -> Events:
        return Events(
            **{
                name: getattr(self, name)[index]
                for name in ("time_s", "kind", "product", "user_id", "session", "ip", "agent")
            }
        )
