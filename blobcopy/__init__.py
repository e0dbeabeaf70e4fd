"""blobcopy: a command line for the durable blob copy HTTP API.

Start a copy, watch it, abort it, list copies. The HTTP client lives in `blobcopy.client`, the
commands in `blobcopy.cli` (entry point `blobcopy.cli:main`).
"""

__version__ = "0.1.0"
