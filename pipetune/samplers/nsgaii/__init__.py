"""NSGA-II (``NSGAIISampler``) and the crossovers and mutations it and NSGA-III take."""

from pipetune.samplers.nsgaii.crossovers import (
    BaseCrossover,
    BLXAlphaCrossover,
    SBXCrossover,
    SPXCrossover,
    UNDXCrossover,
    UniformCrossover,
    VSBXCrossover,
)
from pipetune.samplers.nsgaii.mutations import BaseMutation, PolynomialMutation
from pipetune.samplers.nsgaii.sampler import NSGAIISampler

__all__ = ["BLXAlphaCrossover", "BaseCrossover", "BaseMutation", "NSGAIISampler",
           "PolynomialMutation", "SBXCrossover", "SPXCrossover", "UNDXCrossover",
           "UniformCrossover", "VSBXCrossover"]
