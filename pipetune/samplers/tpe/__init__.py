"""Tree-structured Parzen estimator: the default sampler."""

from pipetune.samplers.tpe.sampler import TPESampler, default_gamma

__all__ = ["TPESampler", "default_gamma"]
