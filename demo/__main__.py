"""`python -m demo`: run the demo; exit 0 only when every copy ended as planned."""

from __future__ import annotations

import sys

from demo.main import main

if __name__ == "__main__":
    sys.exit(main())
