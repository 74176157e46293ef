"""``python -m byol_pkg`` = the ``byol`` console script."""

import sys

from .cli import main

sys.exit(main())
