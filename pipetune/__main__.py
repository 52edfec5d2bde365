"""``python -m pipetune``: the ``pipetune`` command without the installed script."""

import sys

from pipetune.cli import main

sys.exit(main())
