"""The smallest end-to-end check: the app is indexed and answers under devhost."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from devhost.testing import AppHost

pytestmark = pytest.mark.e2e


def test_unknown_copy_is_404(copy_service: AppHost) -> None:
    """Asking for the status of a copy that was never started answers 404."""
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(f"{copy_service.base_url}/api/copies/never-started")
    assert caught.value.code == 404
    assert json.loads(caught.value.read())["error"]["code"]
