"""``python -m recnb``: the command line of :mod:`recnb.workflow.cli`."""

import sys

from recnb.workflow.cli import main

if __name__ == "__main__":
    sys.exit(main())
