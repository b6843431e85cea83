"""``python -m lode_rs`` runs the command line."""

import sys

from .cli import main

sys.exit(main())
