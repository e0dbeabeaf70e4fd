"""HTTP triggers of every shape devhost must route: parameters, constraints, methods, errors."""

import json
import logging

import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)


@app.route(route="hello", methods=["GET"])
def hello(req: func.HttpRequest) -> str:
    """A plain string return becomes a 200 text response."""
    return f"hello {req.params.get('name', 'world')}"


@app.route(route="items/{id:int}", methods=["GET", "PUT"])
def item(req: func.HttpRequest) -> func.HttpResponse:
    """Echoes what the host handed over: method, route parameters, query, a header and the body."""
    payload = {
        "method": req.method,
        "route": dict(req.route_params),
        "query": dict(req.params),
        "header": req.headers.get("x-custom"),
        "body": req.get_body().decode("utf-8"),
    }
    return func.HttpResponse(
        json.dumps(payload), status_code=200, mimetype="application/json", headers={"x-echo": "1"}
    )


@app.route(route="items/{name}", methods=["GET"])
def item_by_name(req: func.HttpRequest) -> func.HttpResponse:
    """Reached only when the id is not an integer: the int route is more specific."""
    return func.HttpResponse(f"name {req.route_params['name']}")


@app.route(route="copies/{id:guid}/parts/{part?}", methods=["GET"])
def parts(req: func.HttpRequest) -> func.HttpResponse:
    """An optional last parameter and a guid constraint."""
    return func.HttpResponse(json.dumps(dict(req.route_params)), mimetype="application/json")


@app.route(route="echo", methods=["POST"])
async def echo(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    """An async function that asks for its context."""
    body = req.get_json()
    return func.HttpResponse(
        json.dumps(
            {"body": body, "function": context.function_name, "invocation": context.invocation_id}
        ),
        status_code=201,
        mimetype="application/json",
    )


@app.route(route="boom")
def boom(req: func.HttpRequest) -> func.HttpResponse:
    """Always fails; the caller must see a bare 500."""
    logging.info("about to fail for %s", req.url)
    raise RuntimeError("secret internal detail")


@app.route(route="nothing")
def nothing(req: func.HttpRequest) -> func.HttpResponse | None:
    """Returns None, which the worker cannot encode as an HTTP response."""
    return None


@app.timer_trigger(schedule="0 0 * * * *", arg_name="timer")
def hourly(timer: func.TimerRequest) -> None:
    """A trigger devhost does not run: it must be skipped with a warning, not break the app."""
