"""`python -m epc.epcctl`, the same as the `epcctl` console script."""

from epc.epcctl.cli import main

if __name__ == "__main__":
    main()
