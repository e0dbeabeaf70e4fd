"""Contract tests: the CLI, openapi.json and the app's routes agree, with no server running."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# function_app.py, shared/ and blobcopy/ live at the repository root.
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
