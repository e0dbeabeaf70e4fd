"""HTTP triggers served by devhost over real HTTP, as `func start` serves them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from devhost.testing import AppHost
from tests.integration.host.host_helpers import http

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def http_app(apps_dir: Path) -> Iterator[AppHost]:
    """The http_basics app, served once for this module."""
    with AppHost(apps_dir / "http_basics") as host:
        yield host


def test_string_return_is_a_200_text_response(http_app: AppHost) -> None:
    """A function returning str answers 200 with that text as text/plain."""
    reply = http("GET", f"{http_app.base_url}/api/hello?name=devhost")
    assert reply.status == 200
    assert reply.headers["content-type"].startswith("text/plain")
    assert reply.text == "hello devhost"


def test_request_parts_reach_the_function(http_app: AppHost) -> None:
    """Method, route parameters, query (repeats joined), headers and body reach the function."""
    reply = http(
        "PUT",
        f"{http_app.base_url}/api/items/42?a=1&a=2&b=x%20y",
        body=b"payload",
        headers={"x-custom": "7"},
    )
    assert reply.status == 200
    assert reply.headers["x-echo"] == "1"
    assert reply.headers["content-type"] == "application/json"
    assert reply.json() == {
        "method": "PUT",
        "route": {"id": "42"},
        "query": {"a": "1,2", "b": "x y"},
        "header": "7",
        "body": "payload",
    }


def test_constrained_route_wins_over_a_plain_parameter(http_app: AppHost) -> None:
    """`items/{id:int}` takes integers and `items/{name}` takes the rest."""
    assert http("GET", f"{http_app.base_url}/api/items/42").json()["route"] == {"id": "42"}
    assert http("GET", f"{http_app.base_url}/api/items/bob").text == "name bob"


def test_optional_last_parameter_may_be_left_out(http_app: AppHost) -> None:
    """A `{part?}` parameter is absent from route_params when the path stops before it."""
    copy_id = str(uuid.uuid4())
    base = f"{http_app.base_url}/api/copies/{copy_id}/parts"
    assert http("GET", base).json() == {"id": copy_id}
    assert http("GET", f"{base}/7").json() == {"id": copy_id, "part": "7"}


def test_route_constraint_mismatch_is_404(http_app: AppHost) -> None:
    """A value that breaks a `guid` constraint matches no function."""
    assert http("GET", f"{http_app.base_url}/api/copies/not-a-guid/parts").status == 404


def test_unknown_route_is_404(http_app: AppHost) -> None:
    """Paths no function serves, inside or outside the route prefix, answer 404."""
    assert http("GET", f"{http_app.base_url}/api/nothing-here").status == 404
    assert http("GET", f"{http_app.base_url}/hello").status == 404


def test_method_not_listed_is_404(http_app: AppHost) -> None:
    """A function limited to GET does not answer DELETE."""
    assert http("DELETE", f"{http_app.base_url}/api/hello").status == 404


def test_function_keys_are_accepted_but_not_required(http_app: AppHost) -> None:
    """A FUNCTION-level route answers with a key in the query, in the header, or with none."""
    base = f"{http_app.base_url}/api/hello"
    assert http("GET", f"{base}?code=anything").status == 200
    assert http("GET", base, headers={"x-functions-key": "anything"}).status == 200
    assert http("GET", base).status == 200


def test_async_function_gets_json_body_and_context(http_app: AppHost) -> None:
    """An async function is awaited and its `context` names the function and the invocation."""
    reply = http("POST", f"{http_app.base_url}/api/echo", body=b'{"a": [1, 2]}')
    assert reply.status == 201
    answer = reply.json()
    assert answer["body"] == {"a": [1, 2]}
    assert answer["function"] == "echo"
    assert f"Id={answer['invocation']}" in http_app.output()


def test_exception_is_a_bare_500_and_logged(http_app: AppHost) -> None:
    """A failing function answers 500 with no body; the traceback goes to the console only."""
    reply = http("GET", f"{http_app.base_url}/api/boom?sig=TOPSECRET")
    assert reply.status == 500
    assert reply.body == b""
    output = http_app.output()
    assert "Executed 'Functions.boom' (Failed" in output
    assert "RuntimeError: secret internal detail" in output


def test_console_never_shows_signatures(http_app: AppHost) -> None:
    """A `sig=` value in a URL a function logs is redacted on the console."""
    http("GET", f"{http_app.base_url}/api/boom?sig=TOPSECRET")
    output = http_app.output()
    assert "sig=REDACTED" in output
    assert "TOPSECRET" not in output


def test_console_logs_each_invocation_like_the_host(http_app: AppHost) -> None:
    """Each call logs `Executing` with its reason and `Executed` with its outcome and duration."""
    http("GET", f"{http_app.base_url}/api/hello")
    output = http_app.output()
    assert (
        "Executing 'Functions.hello' "
        "(Reason='This function was programmatically called via the host APIs.', Id="
    ) in output
    assert "Executed 'Functions.hello' (Succeeded, Id=" in output
    assert "hello: [GET] http://127.0.0.1:" in output


def test_local_settings_become_environment_variables(apps_dir: Path) -> None:
    """Values of local.settings.json(.example) are app settings, visible at import and call."""
    with AppHost(apps_dir / "settings_app", env={"GREETING": ""}) as host:
        assert (
            http("GET", f"{host.base_url}/custom/v1/greeting").text == "from-example|from-example"
        )


def test_environment_wins_over_local_settings(apps_dir: Path) -> None:
    """A setting already in the environment is kept, as `func start` keeps it."""
    with AppHost(apps_dir / "settings_app", env={"GREETING": "from-env"}) as host:
        assert http("GET", f"{host.base_url}/custom/v1/greeting").text == "from-env|from-env"
        assert "Skipping 'GREETING' from local settings" in host.output()


def test_route_prefix_and_default_route_follow_host_json(apps_dir: Path) -> None:
    """host.json's routePrefix replaces `api`, and a route defaults to the function's name."""
    with AppHost(apps_dir / "settings_app", env={"GREETING": ""}) as host:
        assert (
            http("GET", f"{host.base_url}/custom/v1/renamed_function").text == "served by its name"
        )
        assert http("GET", f"{host.base_url}/api/greeting").status == 404


def test_returning_none_is_a_500(http_app: AppHost) -> None:
    """An HTTP function that returns None fails, as the Python worker cannot encode it."""
    assert http("GET", f"{http_app.base_url}/api/nothing").status == 500
    assert "must return func.HttpResponse or str, not NoneType" in http_app.output()


def test_unsupported_trigger_is_skipped_with_a_warning(http_app: AppHost) -> None:
    """A function devhost cannot run (a timer) is listed as skipped; the others still serve."""
    assert (
        "Function skipped: hourly: devhost does not run timerTrigger functions" in http_app.output()
    )
