"""The `cohlab` program's entry point: Ctrl-C during start-up ends it quietly.

Importing the command line and its libraries (pydantic, numpy, pandas, Mesa …) takes seconds;
a Ctrl-C then would print a KeyboardInterrupt traceback from deep inside an import. Until the
command line runs (it restores Python's own handler, and each command handles Ctrl-C itself),
an interrupt prints one line and exits with status 130; nothing has been written yet.
"""

from __future__ import annotations

import signal
import sys


def _interrupted_at_start(signum: int, frame: object) -> None:
    sys.stderr.write("cohlab: interrupted before anything started; nothing was written\n")
    raise SystemExit(130)


def run() -> None:
    """Start `cohlab` (the console script)."""
    signal.signal(signal.SIGINT, _interrupted_at_start)
    from cohlab.cli import main

    main()
