"""openapi.json is valid Swagger 2.0 and describes exactly the app's routes and models."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from openapi_spec_validator import OpenAPIV2SpecValidator, validate

import function_app
from shared import requests, status
from shared.accounts import AccountRegistry
from shared.copylimits import MAX_DELEGATED_TIMEOUT_SECONDS
from shared.settings import Settings

#: Settings with every default and no account: the document speaks for any deployment.
DEFAULTS = Settings(registry=AccountRegistry((), ()))
ROOT = Path(__file__).resolve().parents[2]
SPEC_PATH = ROOT / "openapi.json"
ALL_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
OPERATIONS = ("get", "post", "put", "patch", "delete", "head", "options")


def load_spec() -> dict[str, Any]:
    """openapi.json, parsed."""
    spec: dict[str, Any] = json.loads(SPEC_PATH.read_text(encoding="utf-8"))
    return spec


def shape(route: str) -> str:
    """A route with its parameters' names and constraints erased: copies/{id:int} -> copies/{}."""
    return re.sub(r"\{[^}]*\}", "{}", route.strip("/"))


def spec_routes(spec: dict[str, Any]) -> set[tuple[str, str]]:
    """(METHOD, route shape) for every operation in the spec, routes relative to basePath."""
    return {
        (method.upper(), shape(path))
        for path, item in spec["paths"].items()
        for method in item
        if method in OPERATIONS
    }


def app_routes() -> set[tuple[str, str]]:
    """(METHOD, route shape) for every HTTP trigger of function_app.app."""
    routes = set()
    for function in function_app.app.get_functions():
        for raw in function.get_raw_bindings():
            binding = json.loads(raw)
            if binding.get("type") != "httpTrigger":
                continue
            route = binding.get("route") or function.get_function_name()
            methods = binding.get("methods") or ALL_METHODS
            routes |= {(str(method).upper(), shape(route)) for method in methods}
    return routes


def test_spec_is_valid_swagger_2() -> None:
    """openapi.json passes the OpenAPI 2.0 validator (what Logic Apps custom connectors import)."""
    spec = load_spec()
    assert spec["swagger"] == "2.0"
    validate(spec, cls=OpenAPIV2SpecValidator)


def test_spec_routes_equal_app_routes() -> None:
    """Every HTTP route and method of the app is in the spec, and the spec has no others."""
    spec, app = spec_routes(load_spec()), app_routes()
    assert sorted(app - spec) == [], "routes in function_app.py missing from openapi.json"
    assert sorted(spec - app) == [], "routes in openapi.json that function_app.py does not serve"


def test_spec_base_path_is_the_functions_route_prefix() -> None:
    """basePath is /api, the host's default route prefix, unless host.json sets another."""
    host = json.loads((ROOT / "host.json").read_text(encoding="utf-8"))
    prefix = host.get("extensions", {}).get("http", {}).get("routePrefix", "api")
    assert load_spec()["basePath"] == "/" + prefix


def test_every_operation_uses_the_function_key() -> None:
    """The function key is the security scheme, sent as x-functions-key."""
    spec = load_spec()
    schemes = spec["securityDefinitions"]
    assert {"type": "apiKey", "in": "header", "name": "x-functions-key"}.items() <= next(
        iter(schemes.values())
    ).items()
    assert spec["security"] == [{name: []} for name in schemes]


def test_accepted_answers_carry_location_and_retry_after() -> None:
    """Every 202 documents Location and Retry-After, the async pattern Logic Apps follows."""
    spec = load_spec()
    for item in spec["paths"].values():
        for method, operation in item.items():
            if method in OPERATIONS and "202" in operation["responses"]:
                assert {"Location", "Retry-After"} <= set(operation["responses"]["202"]["headers"])


def test_every_operation_has_an_id_and_summary() -> None:
    """Connectors name actions by operationId and show summary; both must be there and unique."""
    spec = load_spec()
    operations = [
        operation
        for item in spec["paths"].values()
        for method, operation in item.items()
        if method in OPERATIONS
    ]
    ids = [operation["operationId"] for operation in operations]
    assert len(ids) == len(set(ids))
    assert all(operation.get("summary") for operation in operations)


def _pydantic_schema() -> dict[str, Any]:
    schema: dict[str, Any] = requests.CopyRequest.model_json_schema()
    return schema


def _ref_name(schema: dict[str, Any]) -> str | None:
    ref = schema.get("$ref")
    return ref.rsplit("/", 1)[-1] if isinstance(ref, str) else None


def _facets(schema: dict[str, Any]) -> dict[str, Any]:
    """enum, pattern and $ref target of a property, looking through pydantic's anyOf-null."""
    options = schema.get("anyOf", [schema])
    found: dict[str, Any] = {}
    for option in [schema, *options]:
        for name in ("enum", "pattern"):
            if name in option:
                found[name] = option[name]
        if _ref_name(option):
            found["ref"] = _ref_name(option)
    return found


#: Definitions the document has and the models do not (an alias: name -> the model's). The
#: destination has its own model now (DestinationRef: the URL and blob_type), so none.
DOCUMENT_ONLY_DEFINITIONS: dict[str, str] = {}
#: URL fields whose document pattern describes well-formed URLs only: the service reads more
#: (percent-encoded names, say). The pattern is the fuzzer's, so that its valid data is valid;
#: test_document_url_patterns_are_accepted_by_the_models checks that it is.
DOCUMENT_ONLY_PATTERNS = {
    ("BlobRef", "url"),
    ("DestinationRef", "url"),
    ("ContainerRef", "url"),
}


def _document_facets(definition: str, field: str, schema: dict[str, Any]) -> dict[str, Any]:
    """_facets of a document property, read as the model's: aliases and URL patterns aside."""
    found = _facets(schema)
    if (definition, field) in DOCUMENT_ONLY_PATTERNS:
        found.pop("pattern", None)
    if "ref" in found:
        found["ref"] = DOCUMENT_ONLY_DEFINITIONS.get(found["ref"], found["ref"])
    return found


def test_request_schema_matches_the_request_model() -> None:
    """CopyRequest and its parts have the model's field names, required fields, enums, patterns."""
    model = _pydantic_schema()
    spec_defs = load_spec()["definitions"]
    models = {"CopyRequest": model, **model.get("$defs", {})}
    models |= {alias: models[name] for alias, name in DOCUMENT_ONLY_DEFINITIONS.items()}
    for name, model_schema in models.items():
        spec_schema = spec_defs[name]
        assert set(spec_schema["properties"]) == set(model_schema["properties"]), name
        assert set(spec_schema.get("required", [])) == set(model_schema.get("required", [])), name
        for field, model_field in model_schema["properties"].items():
            want = _facets(model_field)
            got = _document_facets(name, field, spec_schema["properties"][field])
            assert got == want, f"{name}.{field}"


def _url_pattern(definition: str) -> str:
    pattern: str = load_spec()["definitions"][definition]["properties"]["url"]["pattern"]
    return pattern


def _copy(source: str, destination: str) -> dict[str, Any]:
    return {"source": {"url": source}, "destination": {"url": destination}}


@settings(max_examples=150, deadline=None)
@given(
    source=st.from_regex(_url_pattern("BlobRef"), fullmatch=True),
    destination=st.from_regex(_url_pattern("DestinationRef"), fullmatch=True),
    container=st.from_regex(_url_pattern("ContainerRef"), fullmatch=True),
)
def test_document_url_patterns_are_accepted_by_the_models(
    source: str, destination: str, container: str
) -> None:
    """Every URL the document's patterns allow, the request models take: valid data by the
    document is valid data for the service (a URL with no path, once allowed, was a 400)."""
    from shared.batchrequests import ContainerRef

    if source.split("?")[0] != destination:  # one field against another: no pattern says it
        requests.parse_copy_request(_copy(source, destination), DEFAULTS)
    ContainerRef.model_validate({"url": container})


def test_document_url_patterns_refuse_a_url_naming_no_blob() -> None:
    """The patterns leave out what the service refuses: no path, a dot segment, a query on
    the destination, a container URL with a query."""

    blob, destination = _url_pattern("BlobRef"), _url_pattern("DestinationRef")
    container = _url_pattern("ContainerRef")
    assert re.fullmatch(blob, "https://example.org/c/b.bin?sv=1&sig=x")
    for url in ("https://example.org", "https://example.org/", "https://h/c/../b", "https://h//b"):
        assert not re.fullmatch(blob, url), url
    assert not re.fullmatch(destination, "https://h/c/b?sig=x")
    assert not re.fullmatch(container, "https://h/c?sv=1")


def test_documented_timeout_maximum_is_what_every_default_deployment_accepts() -> None:
    """The document's timeout maximum is the least of the default setting and the limit for a
    source read with a user delegation SAS: no default deployment refuses a documented value."""
    limit = min(DEFAULTS.max_timeout_seconds, MAX_DELEGATED_TIMEOUT_SECONDS)
    definitions = load_spec()["definitions"]
    for name in ("CopyRequest", "BatchRequest"):
        assert definitions[name]["properties"]["timeout_seconds"]["maximum"] == limit, name


def test_status_schema_matches_the_status_document() -> None:
    """CopyStatus and Progress list exactly the keys shared.status puts in a status document."""
    document = status.document(instance_id="x", state="running", source=None, destination=None)
    spec_defs = load_spec()["definitions"]
    assert set(spec_defs["CopyStatus"]["properties"]) == set(document)
    assert set(spec_defs["Progress"]["properties"]) == set(document["progress"])
    assert spec_defs["CopyStatus"]["properties"]["state"]["enum"] == list(status.STATES)


def test_cli_choices_match_the_spec() -> None:
    """The CLI offers exactly the enum values the spec documents."""
    from blobcopy import copy_request

    request = load_spec()["definitions"]["CopyRequest"]["properties"]
    assert list(copy_request.OVERWRITE_CHOICES) == request["overwrite"]["enum"]
    assert list(copy_request.LEASE_CHOICES) == request["lease_source"]["enum"]
    assert list(copy_request.TIER_CHOICES) == request["tier"]["enum"]
    states = load_spec()["paths"]["/copies"]["get"]["parameters"][0]["enum"]
    assert list(copy_request.STATE_CHOICES) == states
    batch = load_spec()["definitions"]["BatchRequest"]["properties"]
    assert list(copy_request.BATCH_LEASE_CHOICES) == batch["lease_source"]["enum"]


# --- batches ------------------------------------------------------------------------------

_BOUNDS = ("minimum", "maximum", "minLength", "maxLength", "minItems", "maxItems")


def _bounds(schema: dict[str, Any]) -> dict[str, Any]:
    """A property's numeric bounds (its items' too), as one dict whatever the dialect says:
    pydantic's `exclusiveMinimum: 0` on an integer and Swagger's `minimum: 1` are the same."""
    option = next((o for o in schema.get("anyOf", [schema]) if o.get("type") != "null"), schema)
    found = {name: option[name] for name in _BOUNDS if name in option}
    exclusive = option.get("exclusiveMinimum")
    if exclusive is True:  # Swagger 2.0: a flag on `minimum`
        found["minimum"] = ("exclusive", found.pop("minimum"))
    elif isinstance(exclusive, int | float) and not isinstance(exclusive, bool):
        integer = option.get("type") == "integer"
        found["minimum"] = exclusive + 1 if integer else ("exclusive", exclusive)
    if isinstance(option.get("items"), dict):
        found["items"] = _bounds(option["items"])
    if isinstance(option.get("additionalProperties"), dict):
        found["values"] = _bounds(option["additionalProperties"])
    return found


def _batch_facets(schema: dict[str, Any]) -> dict[str, Any]:
    """_facets, with pydantic's `const` read as the one-value enum Swagger 2.0 spells."""
    found = _facets(schema)
    if "const" in schema:
        found["enum"] = [schema["const"]]
    return found


def test_batch_request_schema_matches_the_batch_model() -> None:
    """BatchRequest and its parts (ContainerRef, Notify) have the model's field names, required
    fields, enums, patterns, $refs and bounds (max_concurrency 1..500, globs, prefix length)."""
    from shared.batchrequests import BatchRequest

    model = BatchRequest.model_json_schema()
    spec_defs = load_spec()["definitions"]
    models = {"BatchRequest": model, **model.get("$defs", {})}
    assert set(models) == {"BatchRequest", "ContainerRef", "Notify"}
    for name, model_schema in models.items():
        spec_schema = spec_defs[name]
        assert set(spec_schema["properties"]) == set(model_schema["properties"]), name
        assert set(spec_schema.get("required", [])) == set(model_schema.get("required", [])), name
        for field, model_field in model_schema["properties"].items():
            spec_field = spec_schema["properties"][field]
            got = _batch_facets(spec_field)
            if (name, field) in DOCUMENT_ONLY_PATTERNS:
                got.pop("pattern", None)
            assert got == _batch_facets(model_field), f"{name}.{field}"
            bounds = _bounds(spec_field)
            if field == "timeout_seconds":  # a setting's default, checked on its own above
                bounds.pop("maximum")
            assert bounds == _bounds(model_field), f"{name}.{field}"
            if "default" in model_field and model_field["default"] not in (None, [], {}):
                assert spec_field.get("default") == model_field["default"], f"{name}.{field}"


def _a_batch_document() -> dict[str, Any]:
    from shared.batchstatus import batch_document
    from shared.contracts import BatchTally

    request = {
        "source": {"url": "https://a/c", "prefix": "p/"},
        "destination": {"url": "https://b/d"},
    }
    return batch_document(
        instance_id="b1",
        state=status.State.RUNNING,
        request=request,
        tally=BatchTally(listed=3, succeeded=1, bytes_copied=10),
        running=1,
        listing_complete=False,
        bytes_copied=10,
        total_bytes=30,
        estimated_finish=None,
        report_url="https://b/blobcopy-reports/b1.jsonl",
        errors={"CopyFailed": 1},
        created=None,
        updated=None,
        completed=None,
    )


def test_batch_status_schema_matches_the_batch_document() -> None:
    """BatchStatus, BatchCounts and BatchProgress list exactly the keys shared.batchstatus puts
    in a batch's status document; its states are the copy's."""
    document = _a_batch_document()
    spec_defs = load_spec()["definitions"]
    properties = spec_defs["BatchStatus"]["properties"]
    assert set(properties) == set(document)
    assert set(spec_defs["BatchCounts"]["properties"]) == set(document["counts"])
    assert set(spec_defs["BatchProgress"]["properties"]) == set(document["progress"])
    assert set(spec_defs["ContainerRef"]["properties"]) == set(document["source"])
    assert set(properties["report"]["properties"]) == set(document["report"])
    assert properties["state"]["enum"] == list(status.STATES)
    assert properties["kind"]["enum"] == [document["kind"]]


def test_batch_operations_answer_as_the_copy_operations() -> None:
    """Each batch operation documents the statuses its copy twin does, and the list and the
    status route take the same parameters (state, limit, continuation; id)."""
    paths = load_spec()["paths"]
    twins = {
        ("/batches", "post"): ("/copies", "post"),
        ("/batches", "get"): ("/copies", "get"),
        ("/batches/{id}", "get"): ("/copies/{id}", "get"),
        ("/batches/{id}/abort", "post"): ("/copies/{id}/abort", "post"),
    }
    for (path, method), (twin_path, twin_method) in twins.items():
        batch, copy = paths[path][method], paths[twin_path][twin_method]
        assert batch["tags"] == ["batches"], path
        assert set(batch["responses"]) == set(copy["responses"]), path
        names = [(p["name"], p["in"], p.get("enum")) for p in batch["parameters"]]
        assert names == [(p["name"], p["in"], p.get("enum")) for p in copy["parameters"]], path
    start = paths["/batches"]["post"]
    assert start["operationId"] == "StartBatch" and start["x-ms-long-running-operation"] is True


def test_every_operation_documents_the_hosts_bodiless_401() -> None:
    """A missing or wrong key is the host's 401 with no body (devhost --require-keys answers the
    same): every operation documents it, with no schema, so no body is promised."""
    for item in load_spec()["paths"].values():
        for method, operation in item.items():
            if method in OPERATIONS:
                assert "schema" not in operation["responses"]["401"], operation["operationId"]
