"""Contract test suites that every implementation of a pipetune interface must pass.

They ship inside the package so that a third-party storage (or sampler, or pruner) can prove it
keeps the same promises as the built-in ones: subclass the suite in a test module and provide
the fixture it asks for. ``pipetune.testing.storage.StorageContract`` is the storage suite. The
suites need pytest (``pip install 'pipetune[test]'``); importing this package alone does not.
"""

__all__: list[str] = []
