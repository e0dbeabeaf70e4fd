"""`devhost up --prepare prepare:make_work_queue` for this app: its work queue made up front."""

import logging
import os

from azure.storage.queue import QueueServiceClient

from devhost.storage import StorageStack


def make_work_queue(stack: StorageStack) -> None:
    with QueueServiceClient.from_connection_string(stack.connection_string()) as service:
        service.create_queue(os.environ["WORK_QUEUE"])
    logging.getLogger("devhost").info("prepared: queue %s", os.environ["WORK_QUEUE"])
