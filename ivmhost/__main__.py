"""``python -m ivmhost``: the ivmhost command (see ivmhost/cli.py)."""

import sys

from ivmhost.cli import main

sys.exit(main())
