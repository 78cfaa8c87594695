"""One-Euro filter (Casiez, Roussel, Vogel, CHI 2012): a low-pass whose cutoff rises with speed, so jitter is
removed when still and lag stays small when moving. Element-wise over an array of any shape."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from .config import SmoothingConfig
from .serial import decode_array, encode_array


@dataclass
class OneEuro:
    value: Optional[np.ndarray] = None
    speed: Optional[np.ndarray] = None
    time: float = 0.0

    def __call__(self, x: np.ndarray, time: float, config: SmoothingConfig) -> np.ndarray:
        dt = time - self.time
        if self.value is None or self.value.shape != x.shape or dt <= 0:
            self.value, self.speed, self.time = x.copy(), np.zeros_like(x), time
            return x.copy()
        speed = (x - self.value) / dt
        self.speed = self.speed + _alpha(config.d_cutoff, dt) * (speed - self.speed)
        cutoff = config.min_cutoff + config.beta * np.abs(self.speed)
        self.value = self.value + _alpha(cutoff, dt) * (x - self.value)
        self.time = time
        return self.value.copy()

    def to_dict(self) -> dict[str, Any]:
        return {"value": encode_array(self.value), "speed": encode_array(self.speed), "time": self.time}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "OneEuro":
        return cls(decode_array(data["value"]), decode_array(data["speed"]), float(data["time"]))


def _alpha(cutoff: Any, dt: float) -> Any:
    """Smoothing factor of a first-order low-pass with this cutoff (Hz) sampled every ``dt`` seconds."""
    tau = 1.0 / (2.0 * np.pi * cutoff)
    return 1.0 / (1.0 + tau / dt)
