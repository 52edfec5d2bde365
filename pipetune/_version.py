"""pipetune's version, in the one module the package root and the command both read it from."""

__version__ = "0.1.0"
