"""Function keys required as Azure requires them (`devhost run --require-keys`), over HTTP.

A keyless or wrong-keyed call to a `function`-level route answers what the Functions host
answers, 401 with no body, before the function runs: no storage call, no copy. The key opens
every route, as the `x-functions-key` header or the `code` query parameter (the header wins).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import quote

import pytest

from devhost.storage.stack import StorageStack
from devhost.testing import REPO_ROOT, AppHost, Reply, http
from tests.e2e.conftest import app_settings
from tests.e2e.e2e_helpers import DEST_ACCOUNT, SOURCE_ACCOUNT, TestBlobs
from tests.integration.host.host_helpers import APPS

pytestmark = pytest.mark.e2e

#: Every route of the app, with a body the route would accept.
ROUTES = [
    ("POST", "copies"),
    ("GET", "copies"),
    ("GET", "copies/nope"),
    ("POST", "copies/nope/abort"),
    ("POST", "batches"),
    ("GET", "batches"),
    ("GET", "batches/nope"),
    ("POST", "batches/nope/abort"),
]


@pytest.fixture(scope="module")
def keyed_service(e2e_stack: StorageStack) -> Iterator[AppHost]:
    """The copy service with function keys required."""
    with AppHost(REPO_ROOT, env=app_settings(e2e_stack), require_keys=True) as host:
        yield host


def _call(
    host: AppHost, method: str, route: str, *, body: bytes = b"{}", key: str | None = None
) -> Reply:
    """One call to the app's route, with the key as x-functions-key when given."""
    headers = {"content-type": "application/json"}
    if key is not None:
        headers["x-functions-key"] = key
    return http(
        method,
        f"{host.base_url}/api/{route}",
        body=body if method == "POST" else None,
        headers=headers,
    )


def _key(host: AppHost) -> str:
    assert host.function_key is not None
    return host.function_key


def _copy_request(blobs: TestBlobs) -> bytes:
    source = blobs.source(b"keyed", account=SOURCE_ACCOUNT)
    destination = blobs.destination(account=DEST_ACCOUNT).url
    return json.dumps({"source": {"url": source}, "destination": {"url": destination}}).encode()


def test_the_key_is_printed_at_start(keyed_service: AppHost) -> None:
    """The console says keys are required and gives the key, the one secret devhost prints."""
    printed = f"function key: {keyed_service.function_key}" in keyed_service.output()
    assert printed, "no 'function key: <the key>' line at start"  # the key stays out of reports


@pytest.mark.parametrize(("method", "route"), ROUTES)
def test_a_keyless_call_is_401_with_no_body(
    keyed_service: AppHost, e2e_stack: StorageStack, method: str, route: str
) -> None:
    """Without a key, or with a wrong or empty one, every route answers 401 and an empty body,
    and no storage call is made."""
    e2e_stack.reset_transactions()
    for key in (None, "wrong", ""):
        reply = _call(keyed_service, method, route, key=key)
        assert (reply.status, reply.body) == (401, b""), key
    assert _call(keyed_service, method, f"{route}?code=wrong").status == 401
    assert e2e_stack.transactions().by_operation == {}


def test_a_refused_start_makes_no_storage_call_and_no_copy(
    keyed_service: AppHost, e2e_stack: StorageStack, blobs: TestBlobs
) -> None:
    """A valid copy request without the key starts nothing: the engine counts no transaction."""
    body = _copy_request(blobs)
    e2e_stack.reset_transactions()
    assert _call(keyed_service, "POST", "copies", body=body).status == 401
    assert e2e_stack.transactions().by_operation == {}
    assert not blobs.destination(account=DEST_ACCOUNT).exists()


def test_the_key_opens_every_route_by_header_or_query(keyed_service: AppHost) -> None:
    """With the key (header or `code`), each route answers as it does without keys required."""
    key = _key(keyed_service)
    for method, route in ROUTES:
        by_header = _call(keyed_service, method, route, key=key)
        by_query = _call(keyed_service, method, f"{route}?code={quote(key, safe='')}")
        assert by_header.status not in (401, 500), (method, route, by_header.body)
        assert by_query.status == by_header.status, (method, route)


def test_the_header_wins_over_the_query(keyed_service: AppHost) -> None:
    """A wrong header is not rescued by the right `code`, as in the host's key handler."""
    route = f"copies?code={quote(_key(keyed_service), safe='')}"
    assert _call(keyed_service, "GET", route).status == 200
    assert _call(keyed_service, "GET", route, key="wrong").status == 401


def test_the_key_is_the_same_after_a_restart(keyed_service: AppHost) -> None:
    """A restart keeps the key, as Azure keeps its host keys."""
    key = _key(keyed_service)
    keyed_service.restart()
    assert _call(keyed_service, "GET", "copies", key=key).status == 200


def test_anonymous_routes_stay_open() -> None:
    """Keys required change nothing for an anonymous function."""
    with AppHost(APPS / "settings_app", require_keys=True) as host:
        reply = http("GET", f"{host.base_url}/custom/v1/greeting")
    assert reply.status == 200


def test_keys_are_not_required_by_default(copy_service: AppHost) -> None:
    """Without the flag devhost is `func start`: a keyless call is served."""
    assert copy_service.function_key is None
    assert http("GET", f"{copy_service.base_url}/api/copies").status == 200


def test_up_hands_the_flag_to_the_host_it_starts() -> None:
    """`devhost up --require-keys` serves through a `devhost run --require-keys` child."""
    from devhost import cli

    args = cli._parser().parse_args(["up", ".", "--require-keys"])
    assert "--require-keys" in cli._run_argv(args)
    assert cli.function_key(args, {cli.FUNCTION_KEY_ENV: "given"}) == "given"
    assert cli.function_key(cli._parser().parse_args(["run"]), {}) is None
