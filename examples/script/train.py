"""Train a small neural network on the diabetes data set, one epoch at a time: a script that
pipetune tunes without importing it (see study.yaml next to it).

Hyperparameters come in as command-line arguments, the way SageMaker and Vertex AI hand them
to a training script. After every epoch the script prints a line such as
``epoch=3 val_rmse=55.123``; study.yaml's regexes read the objective and the learning curve
from those lines, and the pruner stops bad runs early. With ``--full-data`` it trains on the
training and validation rows together and reports the error on held-out test rows instead:
that is the ``final:`` run of the best params.

Only numpy is needed to train (a run takes a fraction of a second); the data are the 442
patients of the diabetes data set that ships inside scikit-learn (Efron et al. 2004).
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import os
import sys

import numpy as np


def load_diabetes() -> tuple[np.ndarray, np.ndarray]:
    """The ten baseline measurements and the disease progression a year later, read from the
    files scikit-learn bundles (found without importing scikit-learn, which is slow)."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("error: this example reads the diabetes data set bundled with scikit-learn: "
                 "pip install scikit-learn")
    folder = os.path.join(spec.submodule_search_locations[0], "datasets", "data")
    features = np.loadtxt(os.path.join(folder, "diabetes_data_raw.csv.gz"))
    target = np.loadtxt(os.path.join(folder, "diabetes_target.csv.gz"))
    return features, target


def split(n: int, full_data: bool) -> tuple[np.ndarray, np.ndarray]:
    """Row indexes to train on and to measure on: 60% / 20% (validation) / 20% (test), the
    same for every run. ``full_data`` trains on train + validation and measures on test."""
    order = np.random.default_rng(0).permutation(n)
    n_test = n_val = n // 5
    test, val, train = order[:n_test], order[n_test:n_test + n_val], order[n_test + n_val:]
    return (np.concatenate([train, val]), test) if full_data else (train, val)


class Network:
    """One hidden layer and a linear output, trained on the squared error with weight decay;
    SGD with momentum or Adam, with the gradient norm clipped at 5."""

    def __init__(self, n_in: int, args: argparse.Namespace) -> None:
        rng = np.random.default_rng(args.seed)
        scale = math.sqrt(2.0 / n_in) if args.activation == "relu" else math.sqrt(1.0 / n_in)
        self.weights = [rng.normal(0.0, scale, (n_in, args.hidden)), np.zeros(args.hidden),
                        rng.normal(0.0, math.sqrt(1.0 / args.hidden), args.hidden), np.zeros(1)]
        self.args = args
        self.moments = [np.zeros_like(w) for w in self.weights]
        self.squares = [np.zeros_like(w) for w in self.weights]
        self.updates = 0

    def hidden(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        pre = x @ self.weights[0] + self.weights[1]
        return pre, (np.maximum(pre, 0.0) if self.args.activation == "relu" else np.tanh(pre))

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.hidden(x)[1] @ self.weights[2] + self.weights[3]

    def step(self, x: np.ndarray, y: np.ndarray) -> None:
        pre, h = self.hidden(x)
        d_out = 2.0 * (h @ self.weights[2] + self.weights[3] - y) / len(y)
        slope = (pre > 0).astype(float) if self.args.activation == "relu" else 1.0 - h ** 2
        d_hidden = np.outer(d_out, self.weights[2]) * slope
        grads = [x.T @ d_hidden, d_hidden.sum(axis=0), h.T @ d_out, np.array([d_out.sum()])]
        for i in (0, 2):
            grads[i] = grads[i] + self.args.weight_decay * self.weights[i]
        norm = math.sqrt(sum(float((g ** 2).sum()) for g in grads))
        if norm > 5.0:
            grads = [g * (5.0 / norm) for g in grads]
        self.updates += 1
        lr = self.args.lr
        for w, g, m, s in zip(self.weights, grads, self.moments, self.squares):
            if self.args.optimizer == "sgd":
                m *= self.args.momentum
                m -= lr * g
                w += m
            else:  # Adam (Kingma & Ba 2015) with its usual betas
                m *= 0.9
                m += 0.1 * g
                s *= 0.999
                s += 0.001 * g ** 2
                m_hat = m / (1.0 - 0.9 ** self.updates)
                s_hat = s / (1.0 - 0.999 ** self.updates)
                w -= lr * m_hat / (np.sqrt(s_hat) + 1e-8)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lr", type=float, default=0.01, help="learning rate")
    parser.add_argument("--optimizer", choices=("sgd", "adam"), default="adam")
    parser.add_argument("--momentum", type=float, default=0.9, help="SGD only")
    parser.add_argument("--hidden", type=int, default=16, help="hidden units")
    parser.add_argument("--activation", choices=("relu", "tanh"), default="relu")
    parser.add_argument("--weight-decay", type=float, default=1e-4)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--full-data", action="store_true",
                        help="train on train + validation rows, report the error on test rows")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    features, target = load_diabetes()
    train, measure = split(len(target), args.full_data)
    mean, std = features[train].mean(axis=0), features[train].std(axis=0)
    x = (features - mean) / std
    y_mean, y_std = target[train].mean(), target[train].std()
    y = (target - y_mean) / y_std
    net = Network(x.shape[1], args)
    rng = np.random.default_rng(args.seed + 1)
    for epoch in range(1, args.epochs + 1):
        order = rng.permutation(train)
        for start in range(0, len(order), args.batch_size):
            rows = order[start:start + args.batch_size]
            net.step(x[rows], y[rows])
        error = (net.predict(x[measure]) - y[measure]) * y_std  # in the target's own units
        rmse = math.sqrt(float(np.mean(error ** 2)))
        if not math.isfinite(rmse):
            print(f"error: training diverged at epoch {epoch}; lower --lr", file=sys.stderr)
            return 1
        # flush: the tuner reads these lines while the script runs, to prune it early
        print(f"epoch={epoch} val_rmse={rmse:.4f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
