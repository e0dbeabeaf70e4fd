"""Binding values in and out of user functions, converted as the Python worker converts them.

The worker turns the host's data into `azure.functions` objects before a call and encodes what the
function returns or sets afterwards. devhost reuses the library's own converters where the worker
does (`ActivityTriggerConverter`, `HttpResponseConverter` rules), so a function sees exactly the
objects it would see in Azure.
"""

from __future__ import annotations

import base64
import binascii
import collections.abc
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

import azure.functions as func
from azure.functions import _abc as func_abc
from azure.functions import meta
from azure.functions.durable_functions import ActivityTriggerConverter
from azure.functions.queue import QueueMessage as WorkerQueueMessage

T = TypeVar("T")


class BindingValueError(TypeError):
    """Raised when a function returns or sets a value its binding cannot carry."""


class Out(func.Out[T], Generic[T]):  # type: ignore[misc]
    """The value holder passed for an output binding (`func.Out[str]`), read after the call."""

    def __init__(self) -> None:
        self._value: T | None = None

    def set(self, val: T) -> None:
        self._value = val

    def get(self) -> T:
        return self._value  # type: ignore[return-value]  # None until the function sets it


class _TraceContext(func_abc.TraceContext):  # type: ignore[misc]
    @property
    def trace_state(self) -> str:
        return ""

    @property
    def trace_parent(self) -> str:
        return ""

    @property
    def attributes(self) -> dict[str, str]:
        return {}


class _RetryContext(func_abc.RetryContext):  # type: ignore[misc]
    @property
    def retry_count(self) -> int:
        return 0

    @property
    def max_retry_count(self) -> int:
        return 0

    @property
    def exception(self) -> None:
        return None


_invocation_local = threading.local()


class InvocationContext(func.Context):  # type: ignore[misc]
    """`context: func.Context`, given to functions that declare an unbound `context` parameter."""

    def __init__(self, *, invocation_id: str, function_name: str, function_directory: str) -> None:
        self._invocation_id = invocation_id
        self._function_name = function_name
        self._function_directory = function_directory

    @property
    def invocation_id(self) -> str:
        return self._invocation_id

    @property
    def function_name(self) -> str:
        return self._function_name

    @property
    def function_directory(self) -> str:
        return self._function_directory

    @property
    def thread_local_storage(self) -> threading.local:
        return _invocation_local

    @property
    def trace_context(self) -> func_abc.TraceContext:
        return _TraceContext()

    @property
    def retry_context(self) -> func_abc.RetryContext:
        return _RetryContext()


def set_thread_invocation_id(invocation_id: str) -> None:
    """Mark the running thread as working for an invocation, as the worker does for logging."""
    _invocation_local.invocation_id = invocation_id


# --- Durable activities -------------------------------------------------------------------------


def decode_activity_input(input_json: str | None) -> Any:
    """Decode an activity's input as the worker does: JSON via df_loads, non-JSON text as str."""
    if input_json is None:
        return None
    return ActivityTriggerConverter.decode(
        meta.Datum(type="string", value=input_json), trigger_metadata=None
    )


def encode_activity_output(result: Any) -> str:
    """Encode an activity's return value as the worker does (df_dumps: JSON text)."""
    try:
        datum = ActivityTriggerConverter.encode(result, expected_type=None)
    except ValueError as exc:
        raise BindingValueError(str(exc)) from exc
    return str(datum.value)


# --- Queues -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReceivedMessage:
    """A queue message as it came off the queue, before the host decodes its body."""

    id: str
    content: str
    dequeue_count: int
    insertion_time: datetime | None
    expiration_time: datetime | None
    next_visible_time: datetime | None
    pop_receipt: str


def decode_queue_body(content: str, encoding: str) -> bytes | None:
    """The message body the function sees, or None when base64 was expected and is not there.

    The Queues extension (v5, `messageEncoding` base64 by default) decodes every message; one
    that is not valid base64 never reaches the function: the host moves it to the poison queue.
    """
    if encoding == "none":
        return content.encode("utf-8")
    try:
        return base64.b64decode("".join(content.split()), validate=True)
    except (binascii.Error, ValueError):
        return None


def encode_queue_body(body: bytes, encoding: str) -> str:
    """The text the host writes to a queue for an output message."""
    if encoding == "none":
        return body.decode("utf-8")
    return base64.b64encode(body).decode("ascii")


def queue_trigger_value(message: ReceivedMessage, body: bytes) -> func.QueueMessage:
    """The `func.QueueMessage` the worker builds from the host's trigger data and metadata."""
    return WorkerQueueMessage(
        id=message.id,
        body=body,
        dequeue_count=message.dequeue_count,
        expiration_time=message.expiration_time,
        insertion_time=message.insertion_time,
        time_next_visible=message.next_visible_time,
        pop_receipt=message.pop_receipt,
    )


def queue_output_messages(value: Any, *, binding: str) -> list[bytes]:
    """The messages a queue output value stands for: one per str/bytes/QueueMessage item."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value.encode("utf-8")]
    if isinstance(value, bytes | bytearray):
        return [bytes(value)]
    if isinstance(value, func.QueueMessage):
        return [value.get_body()]
    if isinstance(value, collections.abc.Iterable):
        messages: list[bytes] = []
        for item in value:
            if isinstance(item, collections.abc.Iterable) and not isinstance(item, str | bytes):
                raise BindingValueError(f"queue output {binding!r}: nested lists are not messages")
            messages.extend(queue_output_messages(item, binding=binding))
        return messages
    raise BindingValueError(
        f"queue output {binding!r} takes str, bytes, func.QueueMessage or a list of them, "
        f"not {type(value).__name__}"
    )


# --- HTTP ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HttpReply:
    """What goes back on the wire for an HTTP trigger."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes


def http_reply(value: Any) -> HttpReply:
    """Convert a function's HTTP result as the worker's HttpResponseConverter does.

    Like the worker, anything but an HttpResponse or a str (None included) fails the call: 500.
    """
    if isinstance(value, str):
        return HttpReply(
            status=200,
            headers=[("Content-Type", "text/plain; charset=utf-8")],
            body=value.encode("utf-8"),
        )
    if isinstance(value, func.HttpResponse):
        headers = [(str(k), str(v)) for k, v in value.headers.items()]
        if not any(k.lower() == "content-type" for k, _ in headers):
            mimetype = str(value.mimetype)
            content_type = (
                f"{mimetype}; charset={value.charset}" if mimetype.startswith("text/") else mimetype
            )
            headers.append(("Content-Type", content_type))
        return HttpReply(
            status=int(value.status_code), headers=headers, body=bytes(value.get_body() or b"")
        )
    raise BindingValueError(
        f"an HTTP function must return func.HttpResponse or str, not {type(value).__name__}"
    )
