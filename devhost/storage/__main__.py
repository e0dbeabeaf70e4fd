"""Entry point of `python -m devhost.storage`."""

import sys

from devhost.storage.cli import main

if __name__ == "__main__":
    sys.exit(main())
