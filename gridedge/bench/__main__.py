"""``python -m gridedge.bench RESULTS [options]``: the same as ``gridedge bench compare``."""

import sys

from gridedge.cli import main

sys.exit(main(["bench", "compare", *sys.argv[1:]]))
