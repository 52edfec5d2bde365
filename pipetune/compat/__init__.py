"""Drop-in front ends for code written against other tuning libraries.

Each submodule speaks another library's vocabulary on top of pipetune's samplers and storage, so
existing code moves over by changing one import: ``pipetune.compat.hyperopt`` for Hyperopt's
``fmin`` / ``hp`` / ``Trials``. Submodules are imported on demand, never from here.
"""

__all__: list[str] = []
