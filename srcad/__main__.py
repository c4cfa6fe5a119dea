"""``python -m srcad``: the same command line as the ``srcad`` console script."""

import sys

from srcad.cli import main

sys.exit(main())
