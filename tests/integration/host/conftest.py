"""Fixtures for the function host's tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.host.host_helpers import APPS


@pytest.fixture(scope="session")
def apps_dir() -> Path:
    """The directory of the small Functions apps these tests run."""
    return APPS
