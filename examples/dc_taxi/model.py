"""A small numpy version of the book's ``DcTaxiModel``, so the demo needs no PyTorch.

The same architecture choices as the seed's network: ReLU hidden layers of the given widths,
an optional batch normalization in front of every linear layer after the first
(``batch_norm_linear_layers``), SGD or Adam with decoupled weight decay (PyTorch's AdamW),
MSE loss and gradients clipped to norm 0.5 (the seed's ``gradient_clip_val``). The first layer
reads the binned coordinates as one-hot columns; it is stored as one weight table per
coordinate (an embedding), which computes the same product without building the one-hot matrix.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

CLIP_NORM = 0.5
BN_EPS = 1e-5
BN_MOMENTUM = 0.1
ADAM_BETAS = (0.9, 0.999)
ADAMW_DECAY = 0.01


@dataclass
class DcTaxiModel:
    """Weights and optimizer state of the network; ``fit_batch`` trains, ``predict`` scores."""

    n_codes: int  # coordinate columns, each binned into n_bins buckets
    n_bins: int
    n_numeric: int
    hidden: list[int]
    batch_norm: bool
    optimizer: str
    lr: float
    seed: int
    params: dict[str, np.ndarray] = field(default_factory=dict)
    running: dict[str, np.ndarray] = field(default_factory=dict)
    moments: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    steps: int = 0

    def __post_init__(self) -> None:
        rng = np.random.default_rng(self.seed)
        fan_in = self.n_codes + self.n_numeric  # non-zero inputs of one row
        width = self.hidden[0]
        self.params["embed"] = rng.normal(0, np.sqrt(2 / fan_in),
                                          (self.n_codes, self.n_bins, width))
        self.params["w0"] = rng.normal(0, np.sqrt(2 / fan_in), (self.n_numeric, width))
        self.params["b0"] = np.zeros(width)
        sizes = [*self.hidden, 1]
        for i in range(1, len(sizes)):
            self.params[f"w{i}"] = rng.normal(0, np.sqrt(2 / sizes[i - 1]),
                                              (sizes[i - 1], sizes[i]))
            self.params[f"b{i}"] = np.zeros(sizes[i])
            if self.batch_norm:
                self.params[f"gamma{i}"] = np.ones(sizes[i - 1])
                self.params[f"beta{i}"] = np.zeros(sizes[i - 1])
                self.running[f"mean{i}"] = np.zeros(sizes[i - 1])
                self.running[f"var{i}"] = np.ones(sizes[i - 1])

    @property
    def n_layers(self) -> int:
        return len(self.hidden) + 1

    def _forward(self, codes: np.ndarray, numeric: np.ndarray, training: bool) -> tuple:
        p = self.params
        first = numeric @ p["w0"] + p["b0"]
        for column in range(self.n_codes):
            first = first + p["embed"][column][codes[:, column]]
        activations, cache = np.maximum(first, 0.0), [(first, None)]
        for i in range(1, self.n_layers):
            x, norm = activations, None
            if self.batch_norm:
                if training:
                    mean, var = x.mean(axis=0), x.var(axis=0)
                    self.running[f"mean{i}"] += BN_MOMENTUM * (mean - self.running[f"mean{i}"])
                    self.running[f"var{i}"] += BN_MOMENTUM * (var - self.running[f"var{i}"])
                else:
                    mean, var = self.running[f"mean{i}"], self.running[f"var{i}"]
                x_hat = (x - mean) / np.sqrt(var + BN_EPS)
                norm = (activations, x_hat, var)
                x = x_hat * p[f"gamma{i}"] + p[f"beta{i}"]
            z = x @ p[f"w{i}"] + p[f"b{i}"]
            cache.append((z, (x, norm)))
            activations = z if i == self.n_layers - 1 else np.maximum(z, 0.0)
        return activations[:, 0], cache

    def predict(self, codes: np.ndarray, numeric: np.ndarray) -> np.ndarray:
        return self._forward(codes, numeric, training=False)[0]

    def fit_batch(self, codes: np.ndarray, numeric: np.ndarray, target: np.ndarray) -> float:
        """One optimizer step on a mini-batch; returns the batch's MSE before the step."""
        output, cache = self._forward(codes, numeric, training=True)
        error = output - target
        grads: dict[str, np.ndarray] = {}
        delta = (2.0 / len(target)) * error[:, None]
        for i in range(self.n_layers - 1, 0, -1):
            z, (x, norm) = cache[i]
            if i < self.n_layers - 1:
                delta = delta * (z > 0)
            grads[f"w{i}"], grads[f"b{i}"] = x.T @ delta, delta.sum(axis=0)
            delta = delta @ self.params[f"w{i}"].T
            if norm is not None:  # back through the batch normalization (Ioffe & Szegedy 2015)
                raw, x_hat, var = norm
                grads[f"gamma{i}"] = (delta * x_hat).sum(axis=0)
                grads[f"beta{i}"] = delta.sum(axis=0)
                d_hat = delta * self.params[f"gamma{i}"]
                n = len(raw)
                delta = (n * d_hat - d_hat.sum(axis=0) - x_hat * (d_hat * x_hat).sum(axis=0)) \
                    / (n * np.sqrt(var + BN_EPS))
        delta = delta * (cache[0][0] > 0)
        grads["w0"], grads["b0"] = numeric.T @ delta, delta.sum(axis=0)
        embed = np.zeros_like(self.params["embed"])
        for column in range(self.n_codes):
            np.add.at(embed[column], codes[:, column], delta)
        grads["embed"] = embed
        self._step(grads)
        return float(np.mean(error ** 2))

    def _step(self, grads: dict[str, np.ndarray]) -> None:
        norm = np.sqrt(sum(float(np.sum(g * g)) for g in grads.values()))
        scale = min(1.0, CLIP_NORM / (norm + 1e-12))
        self.steps += 1
        for name, grad in grads.items():
            grad = grad * scale
            if self.optimizer == "SGD":
                self.params[name] -= self.lr * grad
                continue
            # Adam (Kingma & Ba 2015) with decoupled weight decay (Loshchilov & Hutter 2019).
            first, second = self.moments.get(name, (np.zeros_like(grad), np.zeros_like(grad)))
            first = ADAM_BETAS[0] * first + (1 - ADAM_BETAS[0]) * grad
            second = ADAM_BETAS[1] * second + (1 - ADAM_BETAS[1]) * grad * grad
            self.moments[name] = (first, second)
            corrected = first / (1 - ADAM_BETAS[0] ** self.steps)
            spread = np.sqrt(second / (1 - ADAM_BETAS[1] ** self.steps)) + 1e-8
            self.params[name] *= 1 - self.lr * ADAMW_DECAY
            self.params[name] -= self.lr * corrected / spread
