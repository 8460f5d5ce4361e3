"""``python -m losses_core``: the ``losses`` command line."""

import sys

from losses_core._cli import main

sys.exit(main())
