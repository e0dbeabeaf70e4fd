"""Hostile input for the API and the queue: hypothesis strategies, and what each must answer.

Shared by the in-process property tests (tests/contract/test_hostile_api.py) and the ones over
real HTTP and the real queue (tests/e2e/test_hostile_http.py). The strategies build what a
careless or malicious caller sends: malformed JSON, wrong types, huge and deeply nested bodies,
dot segments (`..`, `%2e%2e`) and unicode in blob names, `#`, `?`, `%` and control characters
in ids, URLs with credentials, non-HTTP schemes and a SAS in a destination.

The oracles (`url_must_be_refused`, `prefix_must_be_refused`) are written here from the rules
the README states, not imported from the code under test, so a gap in the code is a failure
here rather than a shared blind spot.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from devhost.storage.stack import ACCOUNTS

DEST_ACCOUNT, SOURCE_ACCOUNT = ACCOUNTS
#: Every hostile property test: reproducible in CI (fixed seed, no example database), no
#: per-example deadline (a 2-core CI machine is slow), big generated inputs allowed.
HOSTILE = settings(
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def hostile(examples: int) -> settings:
    """The hostile settings with `examples` cases."""
    return settings(HOSTILE, max_examples=examples)


#: Pieces that break parsers, routes and paths when dropped into a string.
NASTY = (
    "..", ".", "%2e%2e", "%2E.", ".%2e", "%252e%252e", "%2f", "%2F..%2F", "\\..\\", "/", "//",
    "#", "?", "%", "%00", "%zz", "&", "=", ";", "@", ":", "\x00", "\n", "\r\n", "\t", " ",
    "\x7f", "\u0085", "\u2028", "\u202e", "\ufeff", "ü", "🦆", "\ud800", "'", '"', "<", ">",
)  # fmt: skip
_ID_CHARS = st.sampled_from("abcXYZ019_.:-")


def nasty_text(max_size: int = 40) -> st.SearchStrategy[str]:
    """Short strings mixing ordinary characters, any unicode, and the nasty pieces."""
    piece = st.one_of(
        st.sampled_from(NASTY), st.text(max_size=4), st.text(alphabet=_ID_CHARS, max_size=6)
    )
    return st.lists(piece, max_size=max_size // 4).map("".join)


def hostile_ids() -> st.SearchStrategy[str]:
    """Path and body ids: nasty ones, too long ones, and valid-looking ones nobody started."""
    return st.one_of(
        nasty_text(),
        st.sampled_from(["", "a#b", "a?b", "a/b", "..", "%2e%2e", "a%23b", "x" * 101, "q-"]),
        st.text(alphabet=_ID_CHARS, min_size=1, max_size=120),
        st.text(min_size=1, max_size=3000),
    )


_SCHEMES = ("http", "https", "HTTP", "ftp", "file", "javascript", "data", "gopher", "ws", "")
_USERINFO = ("", "", "", "user:pass@", "user@", ":@", "a:b@c@", "%75ser:p%40ss@")
_HOSTS = (
    "127.0.0.1:10000", "localhost:10000", "[::1]:10000", "example.org", "", "127.0.0.1:99999",
    "127.0.0.1:abc", "[::1", "ex ample.org", "exämple.org", "127.0.0.1:10000\\@evil.example",
)  # fmt: skip
_QUERIES = (
    "", "", "sig=abc", "sv=2024-01-01&sig=x%2Fy", "SIG=1", "snapshot=2026-01-01T00:00:00Z",
    "versionid=1", "a=b#frag", "%", "comp=copy", "x=\x00",
)  # fmt: skip


@st.composite
def hostile_urls(draw: st.DrawFn, *, blob: bool = True) -> str:
    """A URL assembled from hostile parts: scheme, credentials, host, path, query."""
    scheme = draw(st.sampled_from(_SCHEMES))
    account = draw(st.sampled_from((DEST_ACCOUNT, SOURCE_ACCOUNT, "other", "")))
    name = st.one_of(st.sampled_from(("c", "dst", "in", "b.bin")), nasty_text(12))
    segments = draw(st.lists(name, min_size=1, max_size=4 if blob else 1))
    if draw(st.booleans()) and draw(st.booleans()):
        segments.append("a" * 2100)  # far too long
    path = "/".join([account, *segments])
    query = draw(st.sampled_from(_QUERIES))
    netloc = draw(st.sampled_from(_USERINFO)) + draw(st.sampled_from(_HOSTS))
    return f"{scheme}://{netloc}/{path}" + (f"?{query}" if query else "")


_CONTROL = re.compile(r"[\x00-\x20\x7f]")
_SEPARATOR = re.compile(r"[/\\]")


def dot_segments(path: str, *, trailing_empty_ok: bool = False) -> bool:
    """Whether a path has a `.`, `..` or empty segment however often it is percent-decoded."""
    seen: set[str] = set()
    while path not in seen:
        seen.add(path)
        pieces = _SEPARATOR.split(path)
        if trailing_empty_ok and pieces[-1] == "":
            pieces = pieces[:-1]
        if any(piece in ("", ".", "..") for piece in pieces):
            return True
        path = unquote(path)
    return False


def url_must_be_refused(url: Any, *, destination: bool) -> bool:
    """What the README promises to refuse, checked independently of the code."""
    if not isinstance(url, str) or not url or len(url) > 2048 or _CONTROL.search(url):
        return True
    try:
        parts = urlsplit(url)
        _ = parts.port
    except ValueError:
        return True
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return True
    if parts.username is not None or parts.password is not None:
        return True
    if not parts.path.strip("/") or dot_segments(parts.path.removeprefix("/")):
        return True
    return destination and "sig" in {k.lower() for k in parse_qs(parts.query)}


def prefix_must_be_refused(prefix: Any) -> bool:
    """A batch prefix that would put a dot or empty segment into the blob names it makes."""
    if not isinstance(prefix, str) or not prefix:
        return False
    return dot_segments(prefix, trailing_empty_ok=True)


def json_values(max_leaves: int = 12) -> st.SearchStrategy[Any]:
    """Any JSON value, with hostile strings and numbers at the leaves."""
    leaves = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=False, allow_infinity=False),
        nasty_text(),
    )
    return st.recursive(
        leaves,
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(nasty_text(10), inner, max_size=4)
        ),
        max_leaves=max_leaves,
    )


def deep_nesting() -> st.SearchStrategy[bytes]:
    """JSON nested far deeper than any request: arrays, objects, or under a real field."""
    depth = st.integers(min_value=50, max_value=30_000)
    return st.one_of(
        depth.map(lambda n: b"[" * n + b"]" * n),
        depth.map(lambda n: b'{"a":' * n + b"1" + b"}" * n),
        depth.map(lambda n: b'{"metadata":' + b'{"a":' * n + b"1" + b"}" * (n + 1)),
    )


def huge_bodies() -> st.SearchStrategy[bytes]:
    """Bodies over the 64 KiB limit, valid JSON or not."""
    size = st.integers(min_value=64 * 1024 + 1, max_value=300 * 1024)
    return st.one_of(
        size.map(lambda n: b" " * n + b"{}"),
        size.map(lambda n: json.dumps({"source": {"url": "http://x/" + "a" * n}}).encode()),
        size.map(lambda n: b"[" + b"1," * (n // 2) + b"1]"),
    )


def raw_bodies() -> st.SearchStrategy[bytes]:
    """Bytes that are not a JSON object: junk, broken JSON, other encodings, JSON non-objects."""
    return st.one_of(
        st.binary(max_size=200),
        st.sampled_from([b"", b"{", b'{"source": ', b"\xff\xfe{\x00}\x00", b"\xef\xbb\xbf{}",
                         b"NaN", b"[1e999999]", b'{"a": 1, "a": 2}', b"null", b"\x00"]),
        json_values().map(lambda v: json.dumps(v).encode()),
        nasty_text().map(lambda t: t.encode("utf-8", "surrogatepass")),
    )  # fmt: skip


def named_fields(body: Any) -> set[str]:
    """The fields an API error body names (empty if it is not one)."""
    error = body.get("error") if isinstance(body, dict) else None
    fields = error.get("fields") if isinstance(error, dict) else None
    return {f["field"] for f in fields or [] if isinstance(f, dict) and "field" in f}


def names(named: set[str], field: str) -> bool:
    """Whether one of the named fields is `field` or inside it (`source` covers `source.url`)."""
    return any(name == field or name.startswith(field + ".") for name in named)
