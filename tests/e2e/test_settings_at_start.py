"""A wrong setting stops the host at start, naming the setting (issue 17: not an empty 500 on
every request later)."""

from __future__ import annotations

import pytest

from devhost.storage.stack import StorageStack
from devhost.testing import REPO_ROOT, AppHost, HostStartError
from tests.e2e.conftest import app_settings

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("BLOBCOPY_LEASE_SECONDS", "5"),
        ("BLOBCOPY_POLL_MIN_SECONDS", "soon"),
        ("BLOBCOPY_BATCH_PAGE_SIZE", "0"),
    ],
)
def test_the_host_refuses_to_start_on_a_wrong_setting_and_names_it(
    e2e_stack: StorageStack, name: str, value: str
) -> None:
    """The app validates every setting when it loads: the host stops, and its log says which
    setting is wrong."""
    host = AppHost(REPO_ROOT, env=app_settings(e2e_stack) | {name: value})
    with pytest.raises(HostStartError) as refused:
        host.start()
    assert name in str(refused.value)
