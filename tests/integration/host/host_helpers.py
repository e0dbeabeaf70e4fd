"""Helpers for the function host's tests: HTTP on loopback, and waiting without hanging."""

from __future__ import annotations

from pathlib import Path

from devhost.testing import Reply, http, wait_for

__all__ = ["APPS", "Reply", "http", "wait_for"]

APPS = Path(__file__).resolve().parents[2] / "apps"
