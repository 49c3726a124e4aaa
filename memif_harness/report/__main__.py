"""``python -m memif_harness.report show|markdown|diff|compare|RESULTS...``: the same as
``memif-harness report`` (:mod:`.command`)."""

from __future__ import annotations

import sys

from .command import main

if __name__ == "__main__":
    sys.exit(main(prog="python -m memif_harness.report"))
