"""The queue trigger: poll a storage queue and run a function per message, as the host does.

Behaviour copied from the Queues extension (v5) so that what passes here passes in Azure:
- poll with randomized exponential back-off from 100 ms up to `maxPollingInterval` while the
  queue is empty (or missing), at once again after a non-empty batch or a local enqueue;
- take up to `batchSize` messages, fetch another batch when no more than `newBatchThreshold`
  still run (so up to batchSize + newBatchThreshold run at once);
- hide a message for 10 minutes while its function runs, renewing half way (a message whose
  host died reappears when that time is up; DEVHOST_QUEUE_PROCESSING_SECONDS shortens it);
- success deletes the message (with DEVHOST_QUEUE_REDELIVER, a share of first deliveries is made
  visible again instead, to show a handler what at-least-once delivery means); failure makes
  it visible again after `visibilityTimeout`, unless
  its dequeue count reached `maxDequeueCount`: then it moves to `<queue>-poison` (also a message
  already past the limit, and, with base64 encoding, one that is not base64).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from dataclasses import replace

from azure.core.exceptions import AzureError, ResourceNotFoundError
from azure.storage.queue import QueueMessage as SdkQueueMessage

from devhost.functions import logs
from devhost.functions.bindings import ReceivedMessage, decode_queue_body, queue_trigger_value
from devhost.functions.indexer import FunctionSpec
from devhost.functions.invoker import Invoker
from devhost.functions.queue_clients import QueueClients, connection_setting, queue_name
from devhost.lifetime import cancel_and_wait

log = logging.getLogger(logs.HOST_LOGGER)

MIN_POLLING_INTERVAL = 0.1
SHUTDOWN_GRACE_SECONDS = 30.0


def _received(message: SdkQueueMessage) -> ReceivedMessage:
    return ReceivedMessage(
        id=str(message.id),
        content="" if message.content is None else str(message.content),
        dequeue_count=int(message.dequeue_count or 0),
        insertion_time=message.inserted_on,
        expiration_time=message.expires_on,
        next_visible_time=message.next_visible_on,
        pop_receipt=str(message.pop_receipt),
    )


class QueueListener:
    """Runs one queue-triggered function for every message of its queue."""

    def __init__(self, spec: FunctionSpec, clients: QueueClients, invoker: Invoker) -> None:
        self.spec = spec
        self._clients = clients
        self._invoker = invoker
        self._options = clients.options
        self._setting = connection_setting(spec.trigger)
        self.queue_name = queue_name(spec.trigger)
        self.poison_queue_name = f"{self.queue_name}-poison"
        self._wake = asyncio.Event()
        self._in_flight: set[asyncio.Task[None]] = set()
        self._poller: asyncio.Task[None] | None = None
        self._delay = MIN_POLLING_INTERVAL
        self._unreachable = False
        batch = self._options.batch_size
        threshold = self._options.new_batch_threshold
        self._threshold = batch // 2 if threshold is None else threshold
        clients.on_enqueued(self._on_enqueued)

    def _on_enqueued(self, setting: str, name: str) -> None:
        if name == self.queue_name and setting == self._setting:
            self._wake.set()

    def start(self) -> None:
        self._clients.queue(self._setting, self.queue_name)  # fail now on a bad connection setting
        self._poller = asyncio.create_task(self._poll_forever(), name=f"queue:{self.queue_name}")

    async def stop(self) -> None:
        """Stop polling; let running functions finish (for a while), then abandon them."""
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
        if self._in_flight:
            _, pending = await asyncio.wait(self._in_flight, timeout=SHUTDOWN_GRACE_SECONDS)
            await cancel_and_wait(pending)

    def _back_off(self) -> float:
        ceiling = self._options.max_polling_interval.total_seconds()
        self._delay = min(
            ceiling, max(MIN_POLLING_INTERVAL, self._delay * 2 * random.uniform(0.8, 1.2))
        )
        return self._delay

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)
        self._wake.clear()

    async def _poll_forever(self) -> None:
        while True:
            while len(self._in_flight) > self._threshold:
                await asyncio.wait(self._in_flight, return_when=asyncio.FIRST_COMPLETED)
            try:
                messages = await self._receive()
            except AzureError as exc:
                if not self._unreachable:  # say it once, not at every poll
                    log.warning(
                        "Queue '%s': polling failed (%s: %s); retrying",
                        self.queue_name,
                        type(exc).__name__,
                        str(exc).splitlines()[0] if str(exc) else "",
                    )
                self._unreachable = True
                messages = []
            except Exception:  # never let the poller die silently: log, back off, go on
                log.exception("Queue '%s': polling failed", self.queue_name)
                messages = []
            else:
                if self._unreachable:
                    log.info("Queue '%s': polling again", self.queue_name)
                self._unreachable = False
            if not messages:
                await self._sleep(self._back_off())
                continue
            self._delay = MIN_POLLING_INTERVAL
            for message in messages:
                task = asyncio.create_task(self._process(message))
                self._in_flight.add(task)
                task.add_done_callback(self._in_flight.discard)

    async def _receive(self) -> list[SdkQueueMessage]:
        # A whole batch each time (the poller waits until no more than newBatchThreshold run):
        # at most batchSize + newBatchThreshold at once, as in Azure. One call takes 32 at most.
        room = min(self._options.batch_size, 32)
        client = self._clients.queue(self._setting, self.queue_name)
        try:
            pager = client.receive_messages(
                messages_per_page=room,
                max_messages=room,
                visibility_timeout=int(self._options.processing_visibility.total_seconds()),
            )
            return [m async for m in pager]
        except ResourceNotFoundError:
            return []  # the host waits for a missing queue to appear

    async def _process(self, sdk_message: SdkQueueMessage) -> None:
        message = _received(sdk_message)
        try:
            await self._handle(message)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception(
                "Queue '%s': message %s could not be settled", self.queue_name, message.id
            )

    async def _handle(self, message: ReceivedMessage) -> None:
        max_count = self._options.max_dequeue_count
        if message.dequeue_count > max_count:
            await self._move_to_poison(
                message, f"Message has reached MaxDequeueCount of {max_count}."
            )
            return
        body = decode_queue_body(message.content, self._options.message_encoding)
        if body is None:
            await self._move_to_poison(
                message,
                "Message is not valid base64 (host.json extensions.queues.messageEncoding is "
                "'base64', the default; send base64 or set it to 'none').",
            )
            return
        receipt = [message.pop_receipt]
        renewer = asyncio.create_task(self._keep_hidden(message.id, receipt))
        try:
            await self._invoker.invoke(
                self.spec,
                queue_trigger_value(message, body),
                reason=f"New queue message detected on '{self.queue_name}'.",
            )
        except Exception:
            succeeded = False
        else:
            succeeded = True
        finally:
            renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewer
        client = self._clients.queue(self._setting, self.queue_name)
        settled = replace(message, pop_receipt=receipt[0])
        if succeeded and self._deliver_again(message):
            log.warning(
                "Queue '%s': message %s will be delivered again (DEVHOST_QUEUE_REDELIVER).",
                self.queue_name,
                message.id,
            )
            await client.update_message(settled.id, settled.pop_receipt, visibility_timeout=0)
        elif succeeded:
            await client.delete_message(settled.id, settled.pop_receipt)
        elif message.dequeue_count >= max_count:
            await self._move_to_poison(
                settled, f"Message has reached MaxDequeueCount of {max_count}."
            )
        else:
            await client.update_message(
                settled.id,
                settled.pop_receipt,
                visibility_timeout=int(self._options.visibility_timeout.total_seconds()),
            )

    def _deliver_again(self, message: ReceivedMessage) -> bool:
        """At-least-once delivery made visible: a first delivery may come once more."""
        share = self._options.redeliver
        return message.dequeue_count == 1 and share > 0 and random.random() < share

    async def _keep_hidden(self, message_id: str, receipt: list[str]) -> None:
        """Renew the message's invisibility half way through, for as long as the function runs."""
        client = self._clients.queue(self._setting, self.queue_name)
        seconds = int(self._options.processing_visibility.total_seconds())
        while True:
            await asyncio.sleep(seconds / 2)
            updated = await client.update_message(
                message_id, receipt[0], visibility_timeout=seconds
            )
            receipt[0] = str(updated.pop_receipt)

    async def _move_to_poison(self, message: ReceivedMessage, why: str) -> None:
        """Copy the message's text, as received, to `<queue>-poison`, then delete it."""
        log.warning("%s Moving message to queue '%s'.", why, self.poison_queue_name)
        poison = await self._clients.ensure_queue(self._setting, self.poison_queue_name)
        await poison.send_message(message.content)
        client = self._clients.queue(self._setting, self.queue_name)
        await client.delete_message(message.id, message.pop_receipt)
