"""Route templates, host.json and local settings parsing, and log redaction, without a server."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from pathlib import Path

import pytest

from devhost.functions.bindings import decode_queue_body, encode_queue_body
from devhost.functions.logs import RedactingFormatter
from devhost.functions.routes import Route, RouteTable, RouteTemplate, RouteTemplateError
from devhost.settings import (
    SettingsError,
    apply_local_settings,
    load_host_config,
    load_local_settings,
    parse_timespan,
)

pytestmark = pytest.mark.integration


def test_route_parameters_are_decoded_and_constrained() -> None:
    """Values are percent-decoded and must pass every inline constraint."""
    template = RouteTemplate.parse("files/{name:minlength(2)}/{size:int:range(1,10)}")
    assert template.match("/files/a%20b/5") == {"name": "a b", "size": "5"}
    assert template.match("/files/a/5") is None
    assert template.match("/files/ab/11") is None


def test_literals_match_case_insensitively() -> None:
    """Literal segments ignore case, as ASP.NET Core routing does."""
    assert RouteTemplate.parse("Copies/{id}").match("/COPIES/x") == {"id": "x"}


def test_catch_all_takes_the_rest_of_the_path() -> None:
    """`{*rest}` captures slashes too, and may be empty."""
    template = RouteTemplate.parse("blobs/{*path}")
    assert template.match("/blobs/a/b/c.txt") == {"path": "a/b/c.txt"}
    assert template.match("/blobs") == {}


def test_default_values_fill_missing_parameters() -> None:
    """`{page=1}` supplies its default when the segment is absent."""
    assert RouteTemplate.parse("list/{page=1}").match("/list") == {"page": "1"}


def test_only_the_last_parameter_may_be_optional() -> None:
    """An optional parameter in the middle of a template is refused at indexing time."""
    with pytest.raises(RouteTemplateError):
        RouteTemplate.parse("a/{x?}/b")


def test_route_table_prefers_literals_and_respects_methods() -> None:
    """A literal segment beats a parameter; a route for other methods is skipped."""
    table = RouteTable(
        [
            Route(RouteTemplate.parse("copies/{id}"), frozenset({"GET"}), "by_id"),
            Route(RouteTemplate.parse("copies/stats"), frozenset({"GET"}), "stats"),
            Route(RouteTemplate.parse("copies/{id}"), frozenset({"DELETE"}), "delete"),
        ]
    )

    def target(method: str, path: str) -> str | None:
        found = table.match(method, path)
        return None if found is None else found.target

    assert target("GET", "/copies/stats") == "stats"
    assert target("GET", "/copies/7") == "by_id"
    assert target("DELETE", "/copies/7") == "delete"
    assert target("PATCH", "/copies/7") is None


def test_timespans_parse_like_dotnet() -> None:
    """host.json durations use .NET TimeSpan text, days and fractions included."""
    assert parse_timespan("00:00:02", setting="x") == timedelta(seconds=2)
    assert parse_timespan("1.00:00:00.5", setting="x") == timedelta(days=1, seconds=0.5)
    with pytest.raises(SettingsError, match="x must be a TimeSpan"):
        parse_timespan(2000, setting="x")


def test_host_json_queue_options_and_defaults(tmp_path: Path) -> None:
    """Queue options come from extensions.queues; what is absent keeps the extension default."""
    (tmp_path / "host.json").write_text(
        json.dumps({"extensions": {"queues": {"maxDequeueCount": 2, "messageEncoding": "none"}}})
    )
    config = load_host_config(tmp_path)
    assert config.queues.max_dequeue_count == 2
    assert config.queues.message_encoding == "none"
    assert config.queues.batch_size == 16
    assert config.queues.max_polling_interval == timedelta(minutes=1)
    assert config.route_prefix == "api"


def test_bad_host_json_value_names_the_setting(tmp_path: Path) -> None:
    """An invalid value is reported with the setting's path."""
    (tmp_path / "host.json").write_text(json.dumps({"extensions": {"queues": {"batchSize": 64}}}))
    with pytest.raises(SettingsError, match=r"extensions\.queues\.batchSize"):
        load_host_config(tmp_path)


def test_local_settings_fall_back_to_the_example(tmp_path: Path) -> None:
    """Without local.settings.json the .example file provides the values; the environment wins."""
    (tmp_path / "local.settings.json.example").write_text(
        json.dumps(
            {"Values": {"A": "from-file", "B": "from-file"}, "Host": {"LocalHttpPort": 7099}}
        )
    )
    settings = load_local_settings(tmp_path)
    environ = {"B": "from-env"}
    assert apply_local_settings(settings, environ) == ["B"]
    assert environ == {"A": "from-file", "B": "from-env"}
    assert settings.http_port == 7099


def test_redact_hides_signatures_and_keys() -> None:
    """SAS signatures, function keys and account keys never reach the console: the console's
    formatter passes every line through shared/redaction.py."""
    line = "GET https://a.blob/c/b?sv=1&sig=abc%2Bdef&se=2 code=k1 AccountKey=xyz==;Other=1"
    record = logging.LogRecord("devhost.host", logging.INFO, __file__, 1, line, None, None)
    text = RedactingFormatter().format(record)
    assert "abc" not in text
    assert "k1" not in text
    assert "xyz" not in text
    assert "sv=1" in text
    assert "se=2" in text


def test_queue_bodies_follow_the_message_encoding() -> None:
    """base64 bodies are decoded (invalid ones refused); with encoding 'none' text passes as is."""
    assert decode_queue_body("aGVsbG8=", "base64") == b"hello"
    assert decode_queue_body("hello there", "base64") is None
    assert decode_queue_body("hello there", "none") == b"hello there"
    assert encode_queue_body(b"hello", "base64") == "aGVsbG8="
    assert encode_queue_body(b"hello", "none") == "hello"


def test_several_parameters_in_one_segment_split_from_the_right() -> None:
    """`{name}.{ext}` gives the last dot to the extension, as ASP.NET Core does."""
    assert RouteTemplate.parse("files/{name}.{ext}").match("/files/a.tar.gz") == {
        "name": "a.tar",
        "ext": "gz",
    }
