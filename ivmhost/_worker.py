"""``python -m ivmhost._worker``: a process-tier plugin's worker (see ivmhost/_process.py)."""

import sys

from ivmhost._process import worker_main

sys.exit(worker_main(sys.stdin.buffer, sys.stdout.buffer))
