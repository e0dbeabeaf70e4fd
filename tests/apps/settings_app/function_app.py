"""Settings as `func start` provides them: local.settings.json values, host.json route prefix."""

import os

import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

GREETING_AT_IMPORT = os.environ.get("GREETING", "unset")


@app.route(route="greeting")
def greeting(req: func.HttpRequest) -> str:
    """Returns the GREETING app setting as seen at import time and at call time."""
    return f"{GREETING_AT_IMPORT}|{os.environ.get('GREETING', 'unset')}"


@app.function_name("renamed_function")
@app.route()
def default_route(req: func.HttpRequest) -> str:
    """Without a route, the function's name is its route."""
    return "served by its name"
