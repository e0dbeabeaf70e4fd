"""A Durable Functions app: an HTTP starter, an orchestrator and a chain of activities.

Names are aliased on purpose (`orchestration=`, `activity=`) so the host must index durable names
the way the extension does. An optional gate (an external event) holds an orchestration in the
middle so a test can restart the host there.
"""

from collections.abc import Generator
from typing import Any

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="chains/{instance_id?}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def start_chain(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    """Starts the chain with the request body as input and answers with the status URLs."""
    instance_id = await client.start_new(
        "chain", req.route_params.get("instance_id"), req.get_json() if req.get_body() else None
    )
    return client.create_check_status_response(req, instance_id)


@app.route(route="chains/{instance_id}", methods=["GET"])
@app.durable_client_input(client_name="client")
async def chain_status(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    """The chain's runtime status and output, read through the durable client."""
    status = await client.get_status(req.route_params["instance_id"])
    if not status:
        return func.HttpResponse(status_code=404)
    return func.HttpResponse(
        body=f'{{"runtimeStatus": "{status.runtime_status.name}"}}', mimetype="application/json"
    )


@app.orchestration_trigger(context_name="context", orchestration="chain")
def chain_orchestrator(context: df.DurableOrchestrationContext) -> Generator[Any, Any, list[Any]]:
    """Greets, optionally waits at the gate, shouts, then describes; fails on request."""
    payload = context.get_input() or {}
    greeting = yield context.call_activity("say_hello", payload.get("name", "Tokyo"))
    if payload.get("gate"):
        context.set_custom_status("at the gate")
        yield context.wait_for_external_event("proceed")
    shouted = yield context.call_activity("shout", greeting)
    described = yield context.call_activity(
        "describe", {"text": shouted, "fail": payload.get("fail", False)}
    )
    return [greeting, shouted, described]


@app.activity_trigger(input_name="name", activity="say_hello")
def hello_activity(name: str) -> str:
    """A sync activity."""
    return f"Hello {name}"


@app.activity_trigger(input_name="text")
async def shout(text: str) -> str:
    """An async activity under its own function name."""
    return text.upper() + "!"


@app.activity_trigger(input_name="request", activity="describe")
def describe_activity(request: dict[str, Any]) -> dict[str, Any]:
    """Takes and returns a dict (JSON both ways); raises when asked to."""
    if request.get("fail"):
        raise ValueError("describe was asked to fail")
    return {"length": len(request["text"]), "text": request["text"]}
