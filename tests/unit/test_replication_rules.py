"""Replication rules from BLOBCOPY_REPLICATION_RULES: validated at load, errors naming the rule
and the field, both sides inside the allowlists."""

from __future__ import annotations

import json
from typing import Any, get_args

import pytest

from shared.errors import ConfigurationError
from shared.replication_rules import ReplicationRule
from shared.requests import CopyRequest
from shared.settings import replication_queue_name, settings_from_env

KEY = "a2V5"


def _env(rules: Any, **extra: str) -> dict[str, str]:
    env = {
        "BLOBCOPY_ACCOUNTS": "devstoreaccount1,devstoreaccount2",
        "BLOBCOPY_ALLOWED_DESTINATIONS": "devstoreaccount1",
        "BLOBCOPY_REPLICATION_RULES": rules if isinstance(rules, str) else json.dumps(rules),
    }
    for n in (1, 2):
        env[f"BLOBCOPY_ACCOUNT_DEVSTOREACCOUNT{n}_CONNECTION_STRING"] = (
            f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount{n};AccountKey={KEY};"
            f"BlobEndpoint=http://127.0.0.1:10000/devstoreaccount{n};"
        )
    return env | extra


def _rule(**changes: Any) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "name": "replica",
        "source": {"account": "devstoreaccount2", "container": "replica-src"},
        "destination": {"account": "devstoreaccount1", "container": "replica-dst"},
    }
    return rule | changes


def _error(rules: Any, **extra: str) -> str:
    with pytest.raises(ConfigurationError) as caught:
        settings_from_env(_env(rules, **extra))
    return str(caught.value)


def test_the_local_default_rule_loads_with_the_documented_defaults() -> None:
    """The rule of local.settings.json.example loads: if_newer, no lease, same blob names."""
    (rule,) = settings_from_env(_env([_rule()])).replication_rules
    assert (rule.overwrite, rule.lease_source, rule.verify) == ("if_newer", "none", False)
    assert rule.destination_name("a/b.csv") == "a/b.csv"
    assert rule.copy_options() == {
        "overwrite": "if_newer",
        "lease_source": "none",
        "metadata": {},
        "verify": False,
    }


def test_no_setting_means_no_rules() -> None:
    """Without the setting (or with it empty) nothing replicates."""
    assert settings_from_env(_env("")).replication_rules == ()
    assert settings_from_env({}).replication_rules == ()


def test_a_prefix_is_renamed_and_filters_take_only_their_names() -> None:
    """source.prefix becomes destination.prefix; suffix and include globs narrow the names."""
    source: dict[str, Any] = {"account": "devstoreaccount2", "container": "logs", "prefix": "in/"}
    source |= {"suffix": ".csv", "include": ["2026-*"]}
    destination = {"account": "devstoreaccount1", "container": "logs", "prefix": "copy/"}
    (rule,) = settings_from_env(
        _env([_rule(source=source, destination=destination)])
    ).replication_rules
    assert rule.destination_name("in/2026-01.csv") == "copy/2026-01.csv"
    assert rule.source.takes("in/2026-01.csv")
    assert not rule.source.takes("in/2025-01.csv")
    assert not rule.source.takes("in/2026-01.txt")
    assert not rule.source.takes("out/2026-01.csv")


@pytest.mark.parametrize(
    ("rules", "expected"),
    [
        ("[{", "BLOBCOPY_REPLICATION_RULES is not JSON"),
        ({"name": "x"}, "must be a JSON list"),
        ([_rule(overwrite="sometimes")], "rule 'replica': overwrite: "),
        ([_rule(tier="Warm")], "rule 'replica': tier: "),
        ([_rule(name="Bad Name")], "rule 'Bad Name': name: "),
        ([{"source": {}}], "rule #1: name: "),
        ([_rule(colour="blue")], "rule 'replica': colour: "),
        (
            [_rule(source={"account": "devstoreaccount2", "container": "A"})],
            "rule 'replica': source.container: ",
        ),
        ([_rule(), _rule()], "rule 'replica': name: used by another rule"),
        (
            [_rule(source={"account": "nowhere", "container": "abc"})],
            "rule 'replica': source.account: 'nowhere' is not in BLOBCOPY_ACCOUNTS",
        ),
        (
            [_rule(destination={"account": "devstoreaccount2", "container": "abc"})],
            "rule 'replica': destination: outside BLOBCOPY_ALLOWED_DESTINATIONS",
        ),
    ],
)
def test_a_wrong_rule_stops_the_settings_naming_the_rule_and_the_field(
    rules: Any, expected: str
) -> None:
    """Each mistake is a ConfigurationError naming the setting, the rule and the field."""
    assert expected in _error(rules)


def test_the_source_must_pass_the_source_allowlist() -> None:
    """A source outside BLOBCOPY_ALLOWED_SOURCES is refused at load."""
    message = _error([_rule()], BLOBCOPY_ALLOWED_SOURCES="devstoreaccount1,external")
    assert "rule 'replica': source: outside BLOBCOPY_ALLOWED_SOURCES" in message


def test_a_rule_into_its_own_range_is_refused() -> None:
    """Same container and overlapping prefixes would replicate its own copies forever."""
    both = {"account": "devstoreaccount1", "container": "data"}
    rule = _rule(source=both | {"prefix": "a/"}, destination=both | {"prefix": "a/b/"})
    message = _error([rule], BLOBCOPY_ALLOWED_SOURCES="*")
    assert "rule 'replica': destination.prefix: overlaps" in message


def test_rule_options_take_the_copy_requests_values() -> None:
    """A rule's overwrite, lease and tier take exactly what a copy request takes."""
    for name in ("overwrite", "lease_source", "tier"):
        rule_values = set(get_args(ReplicationRule.model_fields[name].annotation))
        copy_values = set(get_args(CopyRequest.model_fields[name].annotation))
        flat = {a for v in rule_values for a in (get_args(v) or (v,))}
        assert flat == {a for v in copy_values for a in (get_args(v) or (v,))}, name


def test_the_replication_queue_is_blob_events_unless_set() -> None:
    """BLOBCOPY_REPLICATION_QUEUE names the queue; a name Azure refuses stops the host."""
    assert replication_queue_name({}) == "blob-events"
    assert replication_queue_name({"BLOBCOPY_REPLICATION_QUEUE": "events-2"}) == "events-2"
    with pytest.raises(ConfigurationError, match="BLOBCOPY_REPLICATION_QUEUE"):
        settings_from_env({"BLOBCOPY_REPLICATION_QUEUE": "Blob_Events"})
