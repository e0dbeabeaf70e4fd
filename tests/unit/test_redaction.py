"""Secrets never survive redaction, however a signature is spelled or wherever it stands.

The one test module of shared/redaction.py (status documents, storage errors, the copy engine
and the CLI all call it). Properties: generated URLs, with secret parameters spelled in any
case and %-encoding, among ordinary ones, in free text, JSON, HTML and .NET-escaped JSON, come
out exactly as they went in except each secret value, which reads REDACTED; Python's own query
parser agrees on which parameters were secret; redacting twice changes nothing; text without
`=` is left alone. Then the named forms, one example each.
"""

from __future__ import annotations

import ast
import json
import sys
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared import redaction
from shared.redaction import (
    REDACTED,
    SECRET_PARAMETERS,
    exposed_secrets,
    redact_text,
    redact_url,
    scrub,
)

ROOT = Path(__file__).resolve().parents[2]
BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
QUICK = settings(max_examples=200, database=None)


@dataclass(frozen=True)
class Param:
    """One query parameter as written (`name`, `value` spelled as in a URL)."""

    name: str
    value: str
    secret: bool

    def text(self, value: str | None = None) -> str:
        return f"{self.name}={self.value if value is None else value}"


def hex_escape(char: str, draw: st.DrawFn) -> str:
    """`char` as a %-escape, in upper- or lower-case hex."""
    escape = f"%{ord(char):02X}"
    return escape.lower() if draw(st.booleans()) else escape


@st.composite
def secret_names(draw: st.DrawFn) -> str:
    """A secret name spelled any way a server would still read it: any case, any char %-encoded."""
    name = draw(st.sampled_from(sorted(SECRET_PARAMETERS)))
    spelled = []
    for char in name:
        char = char.upper() if draw(st.booleans()) else char
        spelled.append(hex_escape(char, draw) if draw(st.integers(0, 4)) == 0 else char)
    return "".join(spelled)


@st.composite
def secret_values(draw: st.DrawFn) -> str:
    """A base64 signature, its `+`, `/` and `=` raw or %-encoded as a client may send them."""
    chars = draw(st.lists(st.sampled_from(BASE64), min_size=1, max_size=24))
    return "".join(hex_escape(c, draw) if c in "+/=" and draw(st.booleans()) else c for c in chars)


PLAIN_NAMES = st.text("abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=8).filter(
    lambda name: name not in SECRET_PARAMETERS
)
PLAIN_VALUES = st.text("abcdefghijklmnopqrstuvwxyz0123456789-._~", max_size=10)
SECRETS = st.builds(Param, secret_names(), secret_values(), st.just(True))
PLAINS = st.builds(Param, PLAIN_NAMES, PLAIN_VALUES, st.just(False))
QUERIES = st.lists(st.one_of(SECRETS, PLAINS), min_size=1, max_size=6).filter(
    lambda params: any(p.secret for p in params)
)


def url(params: list[Param], separator: str, redacted: bool = False) -> str:
    """A blob URL with `params` as its query; with `redacted`, what redaction should give."""
    query = separator.join(p.text(REDACTED if redacted and p.secret else None) for p in params)
    return f"https://acct.blob.core.windows.net/container/dir/blob.bin?{query}"


#: Where a URL turns up: as it is, in a message, in JSON, in HTML, in .NET's escaped JSON.
CONTEXTS: dict[str, Callable[[str], str]] = {
    "bare": lambda u: u,
    "message": lambda u: f'AuthenticationFailed: could not read "{u}" (403)\nRequestId:1',
    "request line": lambda u: f"GET {u} HTTP/1.1",
    "json": lambda u: json.dumps({"source": u, "n": 1}),
    "html": lambda u: f"<a href='{u.replace('&', '&amp;')}'>copy</a>",
    "dotnet json": lambda u: (
        json.dumps(u).replace("&", "\\u0026").replace("+", "\\u002B").replace("/", "\\/")
    ),
}


@QUICK
@given(QUERIES, st.sampled_from(["&", ";"]), st.sampled_from(sorted(CONTEXTS)))
def test_every_secret_value_and_nothing_else_is_replaced(
    params: list[Param], separator: str, context: str
) -> None:
    """In any context, the text comes back unchanged but for each secret's value."""
    wrap = CONTEXTS[context]
    original = wrap(url(params, separator))
    assert redact_text(original) == wrap(url(params, separator, redacted=True))


@QUICK
@given(QUERIES)
def test_the_url_redactor_agrees_with_pythons_query_parser(params: list[Param]) -> None:
    """What parse_qsl reads as a secret name (decoded, any case) is exactly what is replaced."""
    original = url(params, "&")
    expected = [
        (name, REDACTED if name.lower() in SECRET_PARAMETERS else value)
        for name, value in parse_qsl(urlsplit(original).query, keep_blank_values=True)
    ]
    redacted = redact_url(original)
    assert parse_qsl(urlsplit(redacted).query, keep_blank_values=True) == expected
    assert redacted == url(params, "&", redacted=True)


@QUICK
@given(st.one_of(st.text(), QUERIES.map(lambda params: url(params, "&"))))
def test_redacting_twice_changes_nothing(text: str) -> None:
    """REDACTED is itself a value: a redacted text redacts to itself."""
    once = redact_text(text)
    assert redact_text(once) == once


@QUICK
@given(st.text())
def test_text_without_an_equals_sign_is_left_alone(text: str) -> None:
    """No `=` (raw or %3D), no parameter: nothing to redact."""
    text = text.replace("=", "").replace("%3D", "").replace("%3d", "")
    assert redact_text(text) == text


NAMED_CASES = [
    ("first parameter", "https://a/c/b?sig=abc&sv=1", "https://a/c/b?sig=REDACTED&sv=1"),
    ("only parameter", "?sig=abc", "?sig=REDACTED"),
    ("after &", "https://a/c/b?sv=1&sig=abc&se=2", "https://a/c/b?sv=1&sig=REDACTED&se=2"),
    ("after ;", "a=1;sig=abc;b=2", "a=1;sig=REDACTED;b=2"),
    ("upper case", "?sv=1&SIG=abc", "?sv=1&SIG=REDACTED"),
    ("mixed case", "?Sig=abc&sv=1", "?Sig=REDACTED&sv=1"),
    ("encoded name", "?%73ig=abc&sv=1", "?%73ig=REDACTED&sv=1"),
    ("encoded upper name", "?%53%49%47=abc", "?%53%49%47=REDACTED"),
    ("encoded =", "?sig%3Dabc&sv=1", "?sig%3DREDACTED&sv=1"),
    ("encoded value", "?sig=Zm9v%2Bbar%2F%3D&sp=r", "?sig=REDACTED&sp=r"),
    ("raw base64 value", "?sig=Zm9v+bar/==&sp=r", "?sig=REDACTED&sp=r"),
    ("empty value", "?sig=&sp=r", "?sig=REDACTED&sp=r"),
    ("several", "?sig=a&sv=1&sig=b&SIG=c", "?sig=REDACTED&sv=1&sig=REDACTED&SIG=REDACTED"),
    ("html", "b?sv=1&amp;sig=abc&amp;se=2", "b?sv=1&amp;sig=REDACTED&amp;se=2"),
    ("xml", "<Url>https://a/b?sig=abc</Url>", "<Url>https://a/b?sig=REDACTED</Url>"),
    (
        "json",
        '{"source": "https://a/c/b?sv=1&sig=abc", "n": 1}',
        '{"source": "https://a/c/b?sv=1&sig=REDACTED", "n": 1}',
    ),
    (
        ".NET json",
        '"https:\\/\\/a\\/b?sv=1\\u0026sig=ab\\u002Bc\\/d\\u0026se=2"',
        '"https:\\/\\/a\\/b?sv=1\\u0026sig=REDACTED\\u0026se=2"',
    ),
    (
        "error message",
        "This request is not authorized. https://a/c/b?sv=1&sig=abc\nRequestId:r1",
        "This request is not authorized. https://a/c/b?sv=1&sig=REDACTED\nRequestId:r1",
    ),
    ("free text", "the sig=abc is wrong", "the sig=REDACTED is wrong"),
    (
        "fragment",
        "https://a/cb#access_token=ya29.x&state=1",
        "https://a/cb#access_token=REDACTED&state=1",
    ),
    ("function key", "see /api/copies/c?code=k3y", "see /api/copies/c?code=REDACTED"),
    ("function key header", "x-functions-key=k3y", "x-functions-key=REDACTED"),
    (
        "s3 presigned",
        "?X-Amz-Credential=AKIA%2F1&X-Amz-Signature=dead&X-Amz-Security-Token=t0k&X-Amz-Expires=60",
        "?X-Amz-Credential=REDACTED&X-Amz-Signature=REDACTED&X-Amz-Security-Token=REDACTED"
        "&X-Amz-Expires=60",
    ),
    (
        "google presigned",
        "?X-Goog-Credential=a%40b&X-Goog-Signature=cafe&access_token=ya29&token=t&signature=s",
        "?X-Goog-Credential=REDACTED&X-Goog-Signature=REDACTED&access_token=REDACTED"
        "&token=REDACTED&signature=REDACTED",
    ),
    (
        "connection string",
        "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=xy+z==;EndpointSuffix=net",
        "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=REDACTED;EndpointSuffix=net",
    ),
    (
        "sas connection string",
        "BlobEndpoint=https://a;SharedAccessSignature=sv=1&sig=abc;x=1",
        "BlobEndpoint=https://a;SharedAccessSignature=REDACTED&sig=REDACTED;x=1",
    ),
]


@pytest.mark.parametrize(
    ("text", "expected"), [case[1:] for case in NAMED_CASES], ids=[case[0] for case in NAMED_CASES]
)
def test_named_forms_of_a_secret_are_redacted(text: str, expected: str) -> None:
    """Each form a signature or key has been seen in, one example each."""
    assert redact_text(text) == expected


def test_a_url_inside_a_percent_encoded_url_loses_its_signature() -> None:
    """A SAS URL passed as another URL's parameter: the value runs to the outer delimiter
    (the inner `&` is %26 there), so more than the signature goes, but the signature goes."""
    inner = "https://a/c/b?sv=1&sig=abc&se=2"
    outer = f"https://x/go?src={quote(inner, safe='')}&y=1"
    assert (
        redact_text(outer)
        == "https://x/go?src=https%3A%2F%2Fa%2Fc%2Fb%3Fsv%3D1%26sig%3DREDACTED&y=1"
    )


@pytest.mark.parametrize(
    "text",
    [
        "xsig=1&design=2&assign=3&signal=4",
        "errorcode=1&statuscode=2&tokens=3",
        "ErrorCode:BlobNotFound",
        "[LeaseConflict] the source is leased",
        "https://a/c/b?sv=2025-01-01&sp=r&se=2026-01-02T00:00:00Z",
        "",
    ],
)
def test_names_that_only_contain_a_secret_name_are_kept(text: str) -> None:
    """A secret name inside a longer one (`xsig`, `errorcode`) is another parameter."""
    assert redact_text(text) == text


def test_the_url_redactor_keeps_the_path_as_it_was_spelled() -> None:
    """A blob may be named `sig=1`: only the query and fragment are redacted."""
    assert (
        redact_url("https://a/c/sig=1/b?sig=2#token=3")
        == "https://a/c/sig=1/b?sig=REDACTED#token=REDACTED"
    )
    assert redact_url("https://a/c/b") == "https://a/c/b"
    assert redact_url("") == ""
    assert redact_url(None) is None


def test_scrub_redacts_every_string_at_any_depth_and_keeps_the_rest() -> None:
    """Dicts, lists and tuples are walked; numbers, booleans and None pass as they are."""
    value = {"a": [{"b": "x?sig=s&y=1"}, ("?code=k",)], "n": 3, "ok": True, "none": None, 1: "z"}
    assert scrub(value) == {
        "a": [{"b": "x?sig=REDACTED&y=1"}, ["?code=REDACTED"]],
        "n": 3,
        "ok": True,
        "none": None,
        "1": "z",
    }


def test_the_module_is_a_stdlib_leaf_that_the_cli_distribution_ships() -> None:
    """The CLI installed alone imports shared.redaction: pyproject ships it, and it needs
    nothing outside the standard library."""
    tree = ast.parse(Path(redaction.__file__).read_text(encoding="utf-8"))
    imported = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert {name.split(".")[0] for name in imported} <= set(sys.stdlib_module_names) | {
        "__future__"
    }
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "shared.redaction" in pyproject["tool"]["setuptools"]["py-modules"]


def test_a_bearer_token_is_redacted() -> None:
    """An Authorization header echoed into a message keeps its scheme, not its token."""
    text = "headers: {'Authorization': 'Bearer eyJ0eXAiOiJKV1QifQ.e30.c2ln'}"
    assert redact_text(text) == "headers: {'Authorization': 'Bearer REDACTED'}"
    assert redact_text("Bearer REDACTED") == "Bearer REDACTED"


def test_exposed_secrets_names_each_secret_however_spelled() -> None:
    """The leak scan's view: every unredacted value, by its parameter's plain name."""
    text = "a?sig=x1&%73ig%3Dx2 code=k Bearer tok3n sig=REDACTED"
    assert exposed_secrets(text) == [
        ("sig", "x1"),
        ("sig", "x2"),
        ("code", "k"),
        ("bearer", "tok3n"),
    ]
