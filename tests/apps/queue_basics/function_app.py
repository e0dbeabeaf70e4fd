"""Queue triggers and queue output bindings, with queue names taken from app settings."""

import json

import azure.functions as func

app = func.FunctionApp()


@app.queue_trigger(arg_name="msg", queue_name="%WORK_QUEUE%", connection="AzureWebJobsStorage")
@app.queue_output(arg_name="results", queue_name="%RESULT_QUEUE%", connection="AzureWebJobsStorage")
def work(msg: func.QueueMessage, results: func.Out[str]) -> None:
    """Reports each message with its metadata; a message asking to fail raises."""
    body = msg.get_body().decode("utf-8")
    if body.startswith("fail"):
        raise ValueError(f"asked to fail: {body}")
    results.set(
        json.dumps(
            {
                "body": body,
                "id": msg.id,
                "dequeue_count": msg.dequeue_count,
                "has_times": msg.insertion_time is not None and msg.expiration_time is not None,
                "has_pop_receipt": bool(msg.pop_receipt),
            }
        )
    )


@app.route(route="enqueue", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@app.queue_output(arg_name="outbox", queue_name="%RESULT_QUEUE%", connection="AzureWebJobsStorage")
async def enqueue(req: func.HttpRequest, outbox: func.Out[list[str]]) -> func.HttpResponse:
    """Posts one queue message per line of the request body."""
    lines = req.get_body().decode("utf-8").splitlines()
    outbox.set(lines)
    return func.HttpResponse(status_code=202)
