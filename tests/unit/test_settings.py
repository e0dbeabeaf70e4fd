"""Settings from the environment: accounts, defaults, and errors that name the setting."""

from __future__ import annotations

import pytest

from shared.errors import ConfigurationError
from shared.settings import http_auth_level, settings_from_env

AZURITE = (
    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
    "BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;"
)


def test_accounts_come_from_connection_strings_and_urls() -> None:
    """Each listed account is read from its CONNECTION_STRING or URL setting."""
    settings = settings_from_env(
        {
            "BLOBCOPY_ACCOUNTS": "dest, prod-src",
            "BLOBCOPY_ACCOUNT_DEST_CONNECTION_STRING": AZURITE,
            "BLOBCOPY_ACCOUNT_PROD_SRC_URL": "https://prodsrc.blob.core.windows.net",
        }
    )
    names = [a.name for a in settings.registry.accounts]
    assert names == ["devstoreaccount1", "prodsrc"]
    assert settings.registry.accounts[0].uses_key and not settings.registry.accounts[1].uses_key


def test_defaults_apply_when_nothing_is_set() -> None:
    """An empty environment gives the documented defaults and no accounts."""
    settings = settings_from_env({})
    assert settings.registry.accounts == () and settings.registry.allowed_destinations == ()
    assert (settings.poll_min_seconds, settings.lease_seconds) == (1.0, 60)
    assert settings.results_queue == "copy-results"


def test_listed_account_without_settings_is_named() -> None:
    """An account listed without a connection string or URL is an error naming both settings."""
    with pytest.raises(ConfigurationError, match="BLOBCOPY_ACCOUNT_X_CONNECTION_STRING"):
        settings_from_env({"BLOBCOPY_ACCOUNTS": "x"})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("BLOBCOPY_POLL_MIN_SECONDS", "abc"),
        ("BLOBCOPY_POLL_MIN_SECONDS", "0"),
        ("BLOBCOPY_LEASE_SECONDS", "90"),
        ("BLOBCOPY_DEFAULT_TIMEOUT_SECONDS", "99999999"),
        ("BLOBCOPY_POLLS_PER_EXECUTION", "0"),
    ],
)
def test_bad_values_name_the_setting(name: str, value: str) -> None:
    """A malformed or out-of-range value raises an error that names its setting."""
    with pytest.raises(ConfigurationError, match=name.removeprefix("BLOBCOPY_").split("_")[0]):
        settings_from_env({name: value})


def test_settings_are_frozen() -> None:
    """The settings object cannot be changed once built."""
    settings = settings_from_env({})
    with pytest.raises(AttributeError):
        settings.lease_seconds = 15  # type: ignore[misc]


def test_http_auth_level_defaults_to_function() -> None:
    """Without the setting, routes need a function key."""
    assert http_auth_level({}) == "function"


def test_http_auth_level_accepts_anonymous_in_any_case() -> None:
    """`Anonymous` behind Entra ID authentication drops the key requirement."""
    assert http_auth_level({"BLOBCOPY_HTTP_AUTH_LEVEL": "Anonymous"}) == "anonymous"


def test_http_auth_level_rejects_unknown_values_naming_the_setting() -> None:
    """A typo fails at start-up with the setting's name, not later with a confusing 401."""
    with pytest.raises(ConfigurationError, match="BLOBCOPY_HTTP_AUTH_LEVEL"):
        http_auth_level({"BLOBCOPY_HTTP_AUTH_LEVEL": "public"})


def test_a_zero_retry_interval_is_refused_naming_the_setting() -> None:
    """The SDK's RetryOptions needs a positive interval; 0 would crash every orchestration."""
    with pytest.raises(ConfigurationError, match="BLOBCOPY_RETRY_FIRST_SECONDS"):
        settings_from_env({"BLOBCOPY_RETRY_FIRST_SECONDS": "0"})


MI_SOURCE = {
    "BLOBCOPY_ACCOUNTS": "prodsrc",
    "BLOBCOPY_ACCOUNT_PRODSRC_URL": "https://prodsrc.blob.core.windows.net",
}


def test_a_max_timeout_beyond_azures_pending_copy_limit_is_refused() -> None:
    """BLOBCOPY_MAX_TIMEOUT_SECONDS above 14 days is refused at load, naming the setting: Azure
    fails a Copy Blob still pending after two weeks (REST Copy Blob, pending copy operation)."""
    with pytest.raises(ConfigurationError, match=r"BLOBCOPY_MAX_TIMEOUT_SECONDS.*14 days"):
        settings_from_env({"BLOBCOPY_MAX_TIMEOUT_SECONDS": str(14 * 86400 + 1)})
    assert settings_from_env({"BLOBCOPY_MAX_TIMEOUT_SECONDS": str(14 * 86400)})


def test_a_default_timeout_no_user_delegation_sas_can_cover_is_refused() -> None:
    """With a managed-identity source account, a default timeout whose deadline plus margin is
    beyond the 7 days a user delegation key lasts is refused at load, naming the setting."""
    env = {**MI_SOURCE, "BLOBCOPY_DEFAULT_TIMEOUT_SECONDS": "604800"}
    with pytest.raises(ConfigurationError, match=r"BLOBCOPY_DEFAULT_TIMEOUT_SECONDS.*7 days"):
        settings_from_env(env)
    keyed = {"BLOBCOPY_ACCOUNTS": "devstoreaccount1"}
    keyed["BLOBCOPY_ACCOUNT_DEVSTOREACCOUNT1_CONNECTION_STRING"] = AZURITE
    assert settings_from_env({**keyed, "BLOBCOPY_DEFAULT_TIMEOUT_SECONDS": "604800"})
