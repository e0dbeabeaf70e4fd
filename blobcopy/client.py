"""A small synchronous client for the durable blob copy HTTP API: copies and batches.

Exceptions, each raised by `BlobCopyClient` and reported by the CLI as one line and an exit code:

    BlobCopyError             anything the client reports instead of an answer
    ├── ApiUnreachable        no HTTP answer: connection refused, unknown host, timeout, TLS failure
    ├── UnexpectedAnswer      a success status whose body is not the JSON the API promises
    └── ApiError              the API answered with an error status
        ├── InvalidRequest    400: the request body or a parameter is wrong (`problems` per field)
        ├── NotAllowed        401/403: function key missing or wrong, or destination not allowed
        ├── CopyNotFound      404: no copy (or batch) with that id
        ├── Conflict          409: id reused for a different request, or copy/batch already over
        └── ServerError       5xx, or any other status the API does not document

The function key goes in the `x-functions-key` header, and only to the API's own origin: redirects
are not followed, so the key never travels to another host.
"""

from __future__ import annotations

import json
import socket
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Protocol

from blobcopy import __version__, exit_codes
from shared.redaction import redact_text

DEFAULT_URL = "http://127.0.0.1:7071"
DEFAULT_HTTP_TIMEOUT = 30.0


class BlobCopyError(Exception):
    """Raised instead of an answer; `exit_code` is what the CLI exits with."""

    exit_code = exit_codes.SERVER_ERROR

    def __init_subclass__(cls, exit_code: int | None = None, **kwargs: Any) -> None:
        """A subclass names its exit code in its class line, so each kind of error is the
        class line and a docstring, not the same three lines again."""
        super().__init_subclass__(**kwargs)
        if exit_code is not None:
            cls.exit_code = exit_code


class ApiUnreachable(BlobCopyError, exit_code=exit_codes.UNREACHABLE):
    """Raised when no HTTP answer arrives (refused, unknown host, timeout, TLS)."""


class UnexpectedAnswer(BlobCopyError, exit_code=exit_codes.SERVER_ERROR):
    """Raised when a success answer's body is not the JSON the API documents."""


class ApiError(BlobCopyError):
    """Raised when the API answers with an error status; carries what it said."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        problems: list[str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.problems = problems or []

    def as_json(self) -> dict[str, Any]:
        """The error as the CLI prints it with --json."""
        error: dict[str, Any] = {"status": self.status, "code": self.code, "message": self.message}
        if self.problems:
            error["problems"] = self.problems
        return {"error": error}


class InvalidRequest(ApiError, exit_code=exit_codes.INVALID_REQUEST):
    """Raised on 400: the request is wrong; `problems` names each wrong field."""


class NotAllowed(ApiError, exit_code=exit_codes.NOT_ALLOWED):
    """Raised on 401/403: the function key is missing or wrong, or the destination is refused."""


class CopyNotFound(ApiError, exit_code=exit_codes.NOT_FOUND):
    """Raised on 404: the API knows no copy (or, on a batch route, no batch) with that id."""


class Conflict(ApiError, exit_code=exit_codes.CONFLICT):
    """Raised on 409: the id belongs to a different request, or the copy has already finished."""


class ServerError(ApiError, exit_code=exit_codes.SERVER_ERROR):
    """Raised on 5xx and on any status the API does not document."""


_ERRORS_BY_STATUS: dict[int, type[ApiError]] = {
    400: InvalidRequest,
    401: NotAllowed,
    403: NotAllowed,
    404: CopyNotFound,
    409: Conflict,
}


@dataclass(frozen=True)
class ApiResponse:
    """One answer of the API: status, headers (names in lower case) and the JSON body."""

    status: int
    body: Any
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def location(self) -> str | None:
        """The `Location` header: where the copy's status can be read."""
        return self.headers.get("location")

    @property
    def retry_after(self) -> float | None:
        """Seconds the API asks us to wait before asking again, from `Retry-After`, if any."""
        return parse_retry_after(self.headers.get("retry-after"))


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds from a `Retry-After` value: delta-seconds or an HTTP date; None if absent or bad."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def describe_error_body(body: Any) -> tuple[str | None, str | None, list[str]]:
    """(code, message, problems) from an error body, whatever shape the API gave it."""
    if isinstance(body, str):
        return None, body.strip() or None, []
    if not isinstance(body, dict):
        return None, None, []
    error = body.get("error", body)
    if isinstance(error, str):
        return None, error, _problems(body.get("errors") or body.get("details"))
    if not isinstance(error, dict):
        return None, None, []
    code = error.get("code")
    message = error.get("message")
    details = (
        error.get("fields")
        or error.get("details")
        or error.get("errors")
        or body.get("fields")
        or body.get("errors")
    )
    return (
        str(code) if code is not None else None,
        str(message) if message is not None else None,
        _problems(details),
    )


def _problems(details: Any) -> list[str]:
    """One line per wrong field, from {field: reason} or a list of validation details."""
    if isinstance(details, dict):
        return [f"{where}: {text}" for where, text in details.items()]
    if not isinstance(details, list):
        return []
    problems = []
    for item in details:
        if isinstance(item, dict):
            where = item.get("field") or item.get("target") or item.get("loc")
            if isinstance(where, list):
                where = ".".join(str(part) for part in where)
            text = item.get("message") or item.get("msg") or ""
            problems.append(f"{where}: {text}" if where else str(text))
        else:
            problems.append(str(item))
    return problems


class CopyApi(Protocol):
    """The API as the CLI uses it; `BlobCopyClient` is the real one, tests may pass a fake."""

    def start_copy(self, request: Mapping[str, Any]) -> ApiResponse: ...

    def get_status(self, copy_id: str) -> ApiResponse: ...

    def abort(self, copy_id: str, reason: str | None = None) -> ApiResponse: ...

    def list_copies(
        self, state: str | None = None, continuation: str | None = None
    ) -> ApiResponse: ...

    def start_batch(self, request: Mapping[str, Any]) -> ApiResponse: ...

    def get_batch(self, batch_id: str) -> ApiResponse: ...

    def abort_batch(self, batch_id: str, reason: str | None = None) -> ApiResponse: ...

    def list_batches(
        self, state: str | None = None, continuation: str | None = None
    ) -> ApiResponse: ...

    def get_replication(self) -> ApiResponse: ...

    def start_backfill(self, rule: str, request: Mapping[str, Any]) -> ApiResponse: ...


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """Refuse redirects: the function key must not follow a request to another host."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class BlobCopyClient:
    """Calls the API's routes, copies' and batches'; raises a `BlobCopyError` subclass on
    anything but success."""

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        *,
        key: str | None = None,
        timeout: float = DEFAULT_HTTP_TIMEOUT,
    ) -> None:
        parsed = urllib.parse.urlsplit(base_url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            shown = redact_text(base_url)
            raise ValueError(f"API URL must be http(s)://host[:port], got {shown!r}")
        # A URL copied from the portal may carry the key as ?code=...: use it, keep it out of paths.
        code = urllib.parse.parse_qs(parsed.query).get("code", [None])[0]
        root = f"{parsed.scheme}://{parsed.netloc}{parsed.path}".rstrip("/")
        # Accept both the host (http://host:7071) and the API root (http://host:7071/api).
        self.api_root = root if root.endswith("/api") else root + "/api"
        self._key = key or code or None
        self._timeout = timeout
        self._opener = urllib.request.build_opener(_NoRedirects())

    def start_copy(self, request: Mapping[str, Any]) -> ApiResponse:
        """POST /api/copies: start a copy; 202 with the status document."""
        return self._call("POST", "/copies", body=request)

    def get_status(self, copy_id: str) -> ApiResponse:
        """GET /api/copies/{id}: 202 while running, 200 when finished."""
        return self._call("GET", f"/copies/{_segment(copy_id)}")

    def abort(self, copy_id: str, reason: str | None = None) -> ApiResponse:
        """POST /api/copies/{id}/abort: ask a running copy to stop, optionally saying why."""
        body = {"reason": reason} if reason else None
        return self._call("POST", f"/copies/{_segment(copy_id)}/abort", body=body)

    def list_copies(self, state: str | None = None, continuation: str | None = None) -> ApiResponse:
        """GET /api/copies[?state=S&continuation=T]: one page of copies, optionally of one state;
        the answer's `continuation` asks for the next page (null: there is none)."""
        return self._call("GET", "/copies" + _list_query(state, continuation))

    def start_batch(self, request: Mapping[str, Any]) -> ApiResponse:
        """POST /api/batches: start a batch; 202 with its id and status URL."""
        return self._call("POST", "/batches", body=request)

    def get_batch(self, batch_id: str) -> ApiResponse:
        """GET /api/batches/{id}: 202 while running, 200 when over."""
        return self._call("GET", f"/batches/{_segment(batch_id)}")

    def abort_batch(self, batch_id: str, reason: str | None = None) -> ApiResponse:
        """POST /api/batches/{id}/abort: start no more copies, abort the pending ones."""
        body = {"reason": reason} if reason else None
        return self._call("POST", f"/batches/{_segment(batch_id)}/abort", body=body)

    def list_batches(
        self, state: str | None = None, continuation: str | None = None
    ) -> ApiResponse:
        """GET /api/batches[?state=S&continuation=T]: one page of batches, as list_copies."""
        return self._call("GET", "/batches" + _list_query(state, continuation))

    def get_replication(self) -> ApiResponse:
        """GET /api/replication: each replication rule and its copies."""
        return self._call("GET", "/replication")

    def start_backfill(self, rule: str, request: Mapping[str, Any]) -> ApiResponse:
        """POST /api/replication/{rule}/backfill: a batch over the rule's range."""
        return self._call("POST", f"/replication/{_segment(rule)}/backfill", body=dict(request))

    def _call(self, method: str, path: str, *, body: Any = None) -> ApiResponse:
        url = self.api_root + path
        headers = {"Accept": "application/json", "User-Agent": f"blobcopy/{__version__}"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if self._key:
            headers["x-functions-key"] = self._key
        request = urllib.request.Request(url, data=data, headers=headers, method=method)
        try:
            with self._opener.open(request, timeout=self._timeout) as answer:
                return _response(answer.status, dict(answer.headers.items()), answer.read())
        except urllib.error.HTTPError as error:
            with error:
                raw = error.read()
            raise _api_error(error.code, raw) from None
        except urllib.error.URLError as error:
            raise ApiUnreachable(_unreachable_message(self.api_root, error.reason)) from None
        except (TimeoutError, ConnectionError, ssl.SSLError) as error:
            raise ApiUnreachable(_unreachable_message(self.api_root, error)) from None


def _list_query(state: str | None, continuation: str | None) -> str:
    """`?state=...&continuation=...` with what is set, escaped; '' when nothing is."""
    params = {"state": state, "continuation": continuation}
    query = urllib.parse.urlencode({k: v for k, v in params.items() if v})
    return f"?{query}" if query else ""


def _segment(copy_id: str) -> str:
    """A copy id made safe as one path segment."""
    return urllib.parse.quote(copy_id, safe="")


def _response(status: int, headers: Mapping[str, str], raw: bytes) -> ApiResponse:
    lowered = {name.lower(): value for name, value in headers.items()}
    if not raw.strip():
        return ApiResponse(status=status, body=None, headers=lowered)
    try:
        body = json.loads(raw)
    except ValueError:
        snippet = redact_text(raw[:200].decode(errors="replace"))
        raise UnexpectedAnswer(
            f"the API answered {status} with a body that is not JSON: {snippet!r}"
        ) from None
    return ApiResponse(status=status, body=body, headers=lowered)


def _api_error(status: int, raw: bytes) -> ApiError:
    """The `ApiError` for an error status and its (JSON or text) body."""
    try:
        body: Any = json.loads(raw) if raw.strip() else None
    except ValueError:
        body = raw.decode(errors="replace")
    code, message, problems = describe_error_body(body)
    error_class = _ERRORS_BY_STATUS.get(status, ServerError)
    return error_class(
        status,
        redact_text(message or _DEFAULT_MESSAGES.get(status, f"HTTP {status}")),
        code=code,
        problems=[redact_text(problem) for problem in problems],
    )


_DEFAULT_MESSAGES = {
    400: "the request is invalid",
    401: "not authorized: pass the function key with --key or BLOBCOPY_FUNCTION_KEY",
    403: "forbidden",
    404: "no such copy",
    409: "conflict",
}


def _unreachable_message(api_root: str, reason: object) -> str:
    if isinstance(reason, ConnectionRefusedError):
        why = "connection refused (is the app running? set --url or BLOBCOPY_URL)"
    elif isinstance(reason, TimeoutError):
        why = "no answer before the timeout"
    elif isinstance(reason, socket.gaierror):
        why = "unknown host"
    elif isinstance(reason, ssl.SSLError):
        why = f"TLS failure ({reason})"
    else:
        why = str(reason)
    return f"cannot reach the blobcopy API at {redact_text(api_root)}: {why}"
