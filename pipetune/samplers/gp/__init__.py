"""Gaussian-process Bayesian optimization (``GPSampler``)."""

from pipetune.samplers.gp.sampler import GPSampler

__all__ = ["GPSampler"]
