"""The workflow example in docs/logic-apps.md is valid JSON and sends a valid copy request."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "logic-apps.md"


def json_blocks() -> list[Any]:
    """Every ```json fenced block of the document, parsed."""
    text = DOC.read_text(encoding="utf-8")
    return [json.loads(block) for block in re.findall(r"```json\n(.*?)```", text, re.S)]


def test_example_workflow_is_valid_json() -> None:
    """The document has one workflow definition, and it parses."""
    workflows = [block for block in json_blocks() if "definition" in block]
    assert len(workflows) == 1


def test_example_request_uses_only_request_fields() -> None:
    """The HTTP action's body uses only fields openapi.json documents for a copy request."""
    spec = json.loads((ROOT / "openapi.json").read_text(encoding="utf-8"))
    fields = set(spec["definitions"]["CopyRequest"]["properties"])
    (workflow,) = [block for block in json_blocks() if "definition" in block]
    action = workflow["definition"]["actions"]["Copy_blob"]
    assert set(action["inputs"]["body"]) <= fields
    assert action["inputs"]["uri"].endswith(spec["basePath"] + "/copies")
    assert "code" in action["inputs"]["queries"]


def test_batch_action_sends_a_valid_batch_request() -> None:
    """The batch action's body uses only BatchRequest fields, and posts to /batches."""
    spec = json.loads((ROOT / "openapi.json").read_text(encoding="utf-8"))
    fields = set(spec["definitions"]["BatchRequest"]["properties"])
    container = set(spec["definitions"]["ContainerRef"]["properties"])
    (action,) = [block["Copy_prefix"] for block in json_blocks() if "Copy_prefix" in block]
    body = action["inputs"]["body"]
    assert set(body) <= fields
    assert set(body["source"]) <= container and set(body["destination"]) <= container
    assert action["inputs"]["uri"].endswith(spec["basePath"] + "/batches")
    assert "code" in action["inputs"]["queries"]


def test_restore_action_restores_a_blob_from_its_own_snapshot() -> None:
    """The restore action posts a copy request whose source is a snapshot of the destination
    blob itself, and the service takes it as a restore (not a 400)."""
    from shared.requests import parse_copy_request
    from shared.restore import point_in_time
    from shared.settings import settings_from_env

    spec = json.loads((ROOT / "openapi.json").read_text(encoding="utf-8"))
    (action,) = [block["Restore_blob"] for block in json_blocks() if "Restore_blob" in block]
    body = action["inputs"]["body"]
    assert set(body) <= set(spec["definitions"]["CopyRequest"]["properties"])
    source, destination = body["source"]["url"], body["destination"]["url"]
    assert source.split("?")[0] == destination and point_in_time(source)
    parse_copy_request({**body, "id": "restore-1"}, settings_from_env({}))
    assert action["inputs"]["uri"].endswith(spec["basePath"] + "/copies")


def visibility_exceptions(spec: dict[str, Any], name: str, path: str = "") -> dict[str, str]:
    """The optional fields of a request definition not marked `advanced` (nested ones by dotted
    path), with the visibility they have instead."""
    definition = spec["definitions"][name]
    required = set(definition.get("required", []))
    found: dict[str, str] = {}
    for field, schema in definition["properties"].items():
        dotted = f"{path}{field}"
        visibility = schema.get("x-ms-visibility", "none")
        if field not in required and visibility != "advanced":
            found[dotted] = visibility
        ref = schema.get("$ref", "")
        if ref and visibility != "advanced":  # an advanced field hides what it holds
            nested = ref.rsplit("/", 1)[1]
            found |= visibility_exceptions(spec, nested, f"{dotted}.")
    return found


def test_optional_fields_are_advanced_as_the_guide_says() -> None:
    """The guide's claim holds: every optional request field is `advanced`, but for `id`
    (`important`) and a batch's two prefixes, and the guide names each exception."""
    spec = json.loads((ROOT / "openapi.json").read_text(encoding="utf-8"))
    assert visibility_exceptions(spec, "CopyRequest") == {"id": "important"}
    assert visibility_exceptions(spec, "BatchRequest") == {
        "id": "important",
        "source.prefix": "none",
        "destination.prefix": "none",
    }
    text = " ".join(DOC.read_text(encoding="utf-8").split())
    claim = "optional request fields are marked `x-ms-visibility: advanced`"
    assert claim in text
    for named in ("except `id`", "`important`", "`source.prefix`", "`destination.prefix`"):
        assert named in text.split(claim, 1)[1][:400], named
