"""`python -m enbsim`: the `enbsim` command (enbsim.cli)."""

import sys

from enbsim.cli import main

if __name__ == "__main__":
    sys.exit(main())
