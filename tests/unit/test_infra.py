"""Infrastructure invariants: every Bicep file parses and keeps the promises of docs/deploy.md.

Reads `infra/` with pycep (the parser checkov builds on); plain text only for what the parse tree
drops (comments) and for syntax checkov's parser must never see. No Azure, no Bicep CLI, no
checkov (that runs separately in `make infra-check`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from pycep import BicepParser

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
BICEP_FILES = sorted(INFRA.rglob("*.bicep"))
ROLE_ASSIGNMENT = "Microsoft.Authorization/roleAssignments"
ROLE_DEFINITION = "Microsoft.Authorization/roleDefinitions"
GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

# Built-in role ids (Azure built-in roles reference) and the names their comments must give.
BUILT_IN_ROLES = {
    "ba92f5b4-2d11-453d-a403-e96b0029c9fe": "Storage Blob Data Contributor",
    "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1": "Storage Blob Data Reader",
    "974c5e8b-45b9-4653-ba55-5f855dd0fb88": "Storage Queue Data Contributor",
    "c6a89b2d-59bc-44d0-9896-0f6e12d7b80a": "Storage Queue Data Message Sender",
    "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3": "Storage Table Data Contributor",
    "3913510d-42f4-4e42-8a64-420c390055eb": "Monitoring Metrics Publisher",
}

BLOB = "Microsoft.Storage/storageAccounts/blobServices"
USER_DELEGATION_KEY = f"{BLOB}/generateUserDelegationKey/action"
BLOB_READ = f"{BLOB}/containers/blobs/read"
BLOB_WRITE = f"{BLOB}/containers/blobs/write"
BLOB_DELETE = f"{BLOB}/containers/blobs/delete"


# pycep 0.7.1 rejects a filtered loop written as Bicep formats it, `[for x in xs: if (c) {`, and
# takes `if(c)`; checkov's pycep 0.5.1 and Bicep take both.
FILTERED_LOOP = re.compile(r"(\[for [^\n]*?:\s*if) \(")


@cache
def parsed(path: Path) -> dict[str, Any]:
    """The pycep JSON of one Bicep file."""
    text = FILTERED_LOOP.sub(r"\1(", path.read_text())
    result: dict[str, Any] = dict(BicepParser().parse(text=text))
    return result


def nodes(tree: Any) -> Iterator[Any]:
    """Every dict, list and scalar in a pycep tree, depth first."""
    yield tree
    children = tree.values() if isinstance(tree, dict) else tree if isinstance(tree, list) else ()
    for child in children:
        yield from nodes(child)


def operator(node: Any, kind: str) -> dict[str, Any] | None:
    """The operands of `node` if it is a pycep operator of that kind (property_accessor...)."""
    found = node.get("operator") if isinstance(node, dict) else None
    if isinstance(found, dict) and found.get("type") == kind:
        operands: dict[str, Any] = found["operands"]
        return operands
    return None


def called(node: Any) -> str | None:
    """The name of the function `node` calls: `x.listKeys()`, `listKeys(id, version)`, `join()`."""
    method = operator(node, "function_accessor")
    if method:
        return str(method["func_name"])
    function = node.get("function") if isinstance(node, dict) else None
    if isinstance(function, dict):
        return str(function.get("parameters", {}).get("func_name") or function["type"])
    return None


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def body(resource: dict[str, Any]) -> dict[str, Any]:
    """A resource's own properties, under any `if (...)` condition or `for` loop."""
    config: dict[str, Any] = resource["config"]
    while "config" in config and ("condition" in config or "loop_type" in config):
        config = config["config"]
    return config


def resources_of_type(type_name: str) -> list[tuple[Path, str, dict[str, Any]]]:
    """Every (file, symbolic name, body) of a resource type across infra/, `existing` excluded."""
    found = []
    for path in BICEP_FILES:
        for name, resource in parsed(path).get("resources", {}).items():
            if resource["type"] == type_name and not resource["existing"]:
                found.append((path, name, body(resource)))
    return found


def the_resource(path: Path, name: str) -> dict[str, Any]:
    return body(parsed(path)["resources"][name])


def comment_above(path: Path, pattern: str) -> str:
    """The block of `//` lines right above the first line matching `pattern`."""
    lines = path.read_text().splitlines()
    index = next(i for i, line in enumerate(lines) if re.match(pattern, line))
    block: list[str] = []
    for line in reversed(lines[:index]):
        if not line.strip().startswith("//"):
            break
        block.insert(0, line.strip().removeprefix("//").strip())
    return " ".join(block)


def code_without_comments(path: Path) -> str:
    return "\n".join(line.split("//", 1)[0] for line in path.read_text().splitlines())


def app_settings() -> dict[str, Any]:
    """The Function App's base settings, by name."""
    settings = parsed(INFRA / "app" / "api.bicep")["variables"]["baseAppSettings"]["value"]
    return {item["name"]: item["value"] for item in settings}


def test_infra_has_bicep_files() -> None:
    """infra/ holds main.bicep and its modules under infra/app/."""
    assert INFRA / "main.bicep" in BICEP_FILES
    assert any(path.parent == INFRA / "app" for path in BICEP_FILES)


@pytest.mark.parametrize("path", BICEP_FILES, ids=rel)
def test_bicep_file_parses(path: Path) -> None:
    """Every Bicep file parses with pycep into resources or parameters."""
    document = parsed(path)
    assert document.get("resources") or document.get("parameters")


@pytest.mark.parametrize("path", BICEP_FILES, ids=rel)
def test_bicep_stays_in_the_grammar_checkov_reads(path: Path) -> None:
    """No imports, exported or user-defined functions, deployer() or types (syntax pycep may
    accept but checkov's bundled parser does not, so read from the text)."""
    code = code_without_comments(path)
    for forbidden in (
        r"^import\b",
        r"@export\(",
        r"^func\s",
        r"deployer\(\)",
        r"^type\s",
    ):
        assert not re.search(forbidden, code, re.MULTILINE), f"{rel(path)}: {forbidden}"


def test_modules_resolve_to_files() -> None:
    """Every module is a local .bicep file that exists (no registry module checkov can't read)."""
    seen = 0
    for path in BICEP_FILES:
        for name, module in parsed(path).get("modules", {}).items():
            assert module["type"] == "local", f"{rel(path)}: {name} is {module['detail']}"
            target = module["detail"]["path"]
            assert (path.parent / target).is_file(), f"{rel(path)}: {name} -> {target}"
            seen += 1
    assert seen >= 9


def test_host_storage_takes_identity_only() -> None:
    """Host storage: no shared keys, no public blobs, TLS 1.2, HTTPS only, no local users."""
    properties = the_resource(INFRA / "app" / "storage.bicep", "storage")["properties"]
    assert properties["allowSharedKeyAccess"] is False
    assert properties["allowBlobPublicAccess"] is False
    assert properties["minimumTlsVersion"] == "TLS1_2"
    assert properties["supportsHttpsTrafficOnly"] is True
    assert properties["isLocalUserEnabled"] is False
    assert properties["defaultToOAuthAuthentication"] is True


def test_every_storage_account_created_takes_identity_only() -> None:
    """No Bicep file creates a storage account that accepts keys or anonymous reads."""
    for path, name, resource in resources_of_type("Microsoft.Storage/storageAccounts"):
        properties = resource["properties"]
        assert properties["allowSharedKeyAccess"] is False, f"{rel(path)}: {name}"
        assert properties["allowBlobPublicAccess"] is False, f"{rel(path)}: {name}"
        assert properties["minimumTlsVersion"] == "TLS1_2", f"{rel(path)}: {name}"


def test_function_app_is_https_only_on_flex_python_311() -> None:
    """The app: HTTPS only, TLS 1.2, Flex Consumption (FC1), Python 3.11, one UAMI.

    siteConfig holds only what Microsoft's Flex Consumption templates set
    (Azure-Samples/azure-functions-flex-consumption-samples IaC/bicep/main.bicep and
    durable-functions-quickstart-python-azd infra/app/api.bicep set nothing but `alwaysOn: false`,
    which the deprecation list calls not valid, so it is left out) plus `minTlsVersion`, which no
    Flex list names. `ftpsState` is rejected by Flex with ARM error 51021
    (microsoft/azure-pipelines-tasks#21032, Azure/terraform-azurerm-avm-res-web-site#360); FTP is
    off through basicPublishingCredentialsPolicies instead (test_publishing_passwords_are_off).
    """
    api = INFRA / "app" / "api.bicep"
    site = the_resource(api, "site")
    properties = site["properties"]
    assert properties["httpsOnly"] is True
    assert set(properties["siteConfig"]) == {"minTlsVersion", "appSettings"}
    assert properties["siteConfig"]["minTlsVersion"] == "1.2"
    assert properties["functionAppConfig"]["runtime"] == {"name": "python", "version": "3.11"}
    assert site["identity"]["type"] == "UserAssigned"
    assert the_resource(api, "plan")["sku"] == {"name": "FC1", "tier": "FlexConsumption"}
    storage = properties["functionAppConfig"]["deployment"]["storage"]
    assert storage["authentication"]["type"] == "UserAssignedIdentity"


def test_publishing_passwords_are_off() -> None:
    """Basic (FTP and SCM) publishing credentials are disabled."""
    api = INFRA / "app" / "api.bicep"
    for name in ("ftpPublishing", "scmPublishing"):
        assert the_resource(api, name)["properties"]["allow"] is False


def test_app_settings_select_identity_based_connections() -> None:
    """Host storage is reached with the user-assigned identity; no connection string is set."""
    settings = app_settings()
    assert settings["AzureWebJobsStorage__credential"] == "managedidentity"
    for name in (
        "AzureWebJobsStorage__accountName",
        "AzureWebJobsStorage__clientId",
        "AzureWebJobsStorage__queueServiceUri",
        "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
        "AZURE_CLIENT_ID",
        "BLOBCOPY_ACCOUNTS",
        "BLOBCOPY_ALLOWED_DESTINATIONS",
    ):
        assert name in settings, name
    assert "AzureWebJobsStorage" not in settings


def test_per_account_settings_match_the_app() -> None:
    """Each copy account gets BLOBCOPY_ACCOUNT_<NAME>_URL and _CLIENT_ID (shared/settings.py)."""
    api = INFRA / "app" / "api.bicep"
    variables = parsed(api)["variables"]
    for variable, item, array, suffix in (
        ("accountUrlSettings", "account", "copyAccountEndpoints", "URL"),
        ("accountClientIdSettings", "accountName", "copyAccountNames", "CLIENT_ID"),
    ):
        value = variables[variable]["value"]
        assert value["loop_type"]["detail"] == {"item_name": item, "array_name": array}
        name = "account.name" if item == "account" else "accountName"
        assert value["config"]["name"] == f"BLOBCOPY_ACCOUNT_${{toUpper({name})}}_{suffix}"
    app_settings = the_resource(api, "site")["properties"]["siteConfig"]["appSettings"]
    assert app_settings["function"] == {
        "type": "concat",
        "parameters": {
            "arg_1": "baseAppSettings",
            "arg_2": "accountUrlSettings",
            "arg_3": "accountClientIdSettings",
        },
    }


def test_no_keys_anywhere() -> None:
    """No Bicep file lists account keys or builds a key-based connection string."""
    for path in BICEP_FILES:
        for node in nodes(parsed(path)):
            assert called(node) not in ("listKeys", "listAccountSas", "listServiceSas"), rel(path)
            if isinstance(node, str):  # pycep leaves '${...}' interpolations as text
                assert "listKeys(" not in node and "AccountKey=" not in node, rel(path)


def test_every_role_assignment_names_its_data_actions() -> None:
    """Each role assignment has a comment above it naming the data actions it grants."""
    assignments = resources_of_type(ROLE_ASSIGNMENT)
    assert assignments
    for path, name, _ in assignments:
        comment = comment_above(path, rf"resource {name} '{ROLE_ASSIGNMENT}@")
        assert "Data actions:" in comment, f"{rel(path)}: {name}"
        assert re.search(r"\w+/(read|write|action)\b", comment, re.IGNORECASE), (
            f"{rel(path)}: {name}"
        )


def test_role_assignments_are_named_guid_of_scope_principal_role() -> None:
    """Assignment names are guid(scope, principal, role): stable across redeployments."""
    for path, name, resource in resources_of_type(ROLE_ASSIGNMENT):
        guid = resource["name"]["function"]
        assert guid["type"] == "guid", f"{rel(path)}: {name}"
        arguments = list(guid["parameters"].values())
        assert len(arguments) == 3, f"{rel(path)}: {name}"
        assert "principal" in json.dumps(arguments[1]).lower(), f"{rel(path)}: {name}"
        assert "role" in json.dumps(arguments[2]).lower(), f"{rel(path)}: {name}"
        properties = resource["properties"]
        assert properties["principalType"] == "ServicePrincipal", f"{rel(path)}: {name}"
        role_id = properties["roleDefinitionId"]["function"]["parameters"]["resource_name_1"]
        assert not GUID.match(role_id), f"{rel(path)}: {name} uses a literal role id"


def test_role_ids_live_in_named_variables_with_the_role_name() -> None:
    """Every role id is a variable whose comment names the built-in role it is."""
    seen = set()
    for path in BICEP_FILES:
        for name, variable in parsed(path).get("variables", {}).items():
            value = variable["value"]
            if isinstance(value, str) and GUID.match(value):
                assert value in BUILT_IN_ROLES, f"{rel(path)}: {name} = unknown role id {value}"
                comment = comment_above(path, rf"var {name}\s*=")
                assert BUILT_IN_ROLES[value] in comment, f"{rel(path)}: {name}"
                seen.add(value)
    assert set(BUILT_IN_ROLES) == seen


def test_custom_roles_hold_exactly_the_copy_data_actions() -> None:
    """Source: read + write (lease) + user delegation key; destination: read + write + delete."""
    roles = {name: body for _, name, body in resources_of_type(ROLE_DEFINITION)}
    assert set(roles) == {"copySourceRole", "copyDestinationRole"}
    source = roles["copySourceRole"]["properties"]["permissions"]
    destination = roles["copyDestinationRole"]["properties"]["permissions"]
    assert source == [
        {
            "actions": [USER_DELEGATION_KEY],
            "notActions": [],
            "dataActions": [BLOB_READ, BLOB_WRITE],
            "notDataActions": [],
        }
    ]
    assert destination == [
        {
            "actions": [],
            "notActions": [],
            "dataActions": [BLOB_READ, BLOB_WRITE, BLOB_DELETE],
            "notDataActions": [],
        }
    ]


def test_every_checkov_suppression_gives_its_reason() -> None:
    """Checkov checks are skipped only inline, inside the resource, each with a reason."""
    for path in BICEP_FILES:
        for line in path.read_text().splitlines():
            if "checkov:skip" in line:
                match = re.match(r"\s+// checkov:skip=(CKV2?_AZURE_\d+): (.{20,})", line)
                assert match, f"{rel(path)}: {line.strip()}"


def test_security_doc_lists_every_role_assignment() -> None:
    """docs/deploy.md's Security section names every role assignment and custom role."""
    doc = (ROOT / "docs" / "deploy.md").read_text()
    security = doc.split("\n## Security", 1)[1].split("\n## ", 1)[0]
    for _, name, _ in resources_of_type(ROLE_ASSIGNMENT):
        assert f"`{name}`" in security, name
    for name in ("copySourceRole", "copyDestinationRole", *BUILT_IN_ROLES.values()):
        assert name in security, name


def test_parameters_file_feeds_main_bicep() -> None:
    """main.parameters.json sets only parameters main.bicep declares, and all required ones."""
    parameters = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    declared = parsed(INFRA / "main.bicep")["parameters"]
    assert set(parameters) <= set(declared)
    required = {name for name, p in declared.items() if p.get("default") is None}
    assert required <= set(parameters)


def test_abbreviations_cover_main_bicep() -> None:
    """Every abbreviation main.bicep uses is defined in abbreviations.json."""
    abbreviations = json.loads((INFRA / "abbreviations.json").read_text())
    used = set()
    for node in nodes(parsed(INFRA / "main.bicep")):
        accessed = operator(node, "property_accessor")
        if accessed and accessed["operand_1"] == "abbrs":
            used.add(accessed["operand_2"])
        if isinstance(node, str):  # pycep leaves '${...}' interpolations as text
            used |= set(re.findall(r"\$\{abbrs\.(\w+)\}", node))
    assert len(used) >= 10
    assert used <= set(abbreviations)


def test_azure_yaml_deploys_the_repo_root_as_a_python_function() -> None:
    """azure.yaml: one service, the repo root, Python, hosted on Azure Functions."""
    document = yaml.safe_load((ROOT / "azure.yaml").read_text())
    assert document["services"]["api"] == {
        "project": "./",
        "language": "python",
        "host": "function",
    }
    assert document["infra"]["path"] == "infra"


def test_destination_allowlist_fails_closed() -> None:
    """With no destination configured the allowlist names no account, never the app's '*'."""
    api_module = parsed(INFRA / "main.bicep")["modules"]["api"]["config"]
    passed = operator(api_module["params"]["destinationAllowlist"], "conditional")
    assert passed is not None
    assert passed["condition"] == {
        "function": {"type": "empty", "parameters": {"item_to_test": "destinationAllowlistParts"}}
    }
    assert passed["true_value"] == "-"
    declared = parsed(INFRA / "app" / "api.bicep")["parameters"]["destinationAllowlist"]
    assert (declared["type"], declared["default"]) == ("string", "-")


def test_host_storage_creates_the_app_queues() -> None:
    """The host storage's queue service holds copy-requests, copy-results and the poison queue,
    and the replication queue with its -rejected and -poison queues.

    The names are the app's: the queue trigger in shared/queueapi.py, the default results queue in
    shared/settings.py, the `<queue>-poison` queue the Functions host moves failed messages to,
    and the replication trigger's queue and `<queue>-rejected` (shared/replication.py).
    """
    storage = INFRA / "app" / "storage.bicep"
    document = parsed(storage)
    resources = document["resources"]
    assert resources["queueService"]["type"] == "Microsoft.Storage/storageAccounts/queueServices"
    assert the_resource(storage, "queueService") == {"parent": "storage", "name": "default"}
    queues = resources["appQueues"]
    assert queues["type"] == "Microsoft.Storage/storageAccounts/queueServices/queues"
    loop = queues["config"]["loop_type"]["detail"]
    assert loop == {"item_name": "queueName", "array_name": "appQueueNames"}
    assert the_resource(storage, "appQueues") == {"parent": "queueService", "name": "queueName"}
    names = document["variables"]["appQueueNames"]["value"]
    assert names == [
        "copy-requests",
        "copy-results",
        "copy-requests-poison",
        "replicationQueueName",
        "${replicationQueueName}-rejected",
        "${replicationQueueName}-poison",
    ]
    assert document["parameters"]["replicationQueueName"]["default"] == "blob-events"
    replication = (ROOT / "shared" / "replication.py").read_text()
    assert 'REJECTED = f"{QUEUE}-rejected"' in replication
    assert (
        'DEFAULT_REPLICATION_QUEUE = "blob-events"' in (ROOT / "shared" / "settings.py").read_text()
    )
    trigger = (ROOT / "shared" / "queueapi.py").read_text()
    assert 'queue_name="copy-requests"' in trigger
    assert 'results_queue: str = "copy-results"' in (ROOT / "shared" / "settings.py").read_text()


def test_maximum_instance_count_has_the_flex_bounds() -> None:
    """maximumInstanceCount takes 1-1000 and says it bounds each function scale group.

    Microsoft's "Event-driven scaling in Azure Functions", Limit scale-out (Flex Consumption):
    "Currently the lowest maximum instance count value is `1`, and the highest supported maximum
    instance count value is `1000`", and "The maximum instance count applies to on-demand
    instances in each per-function scale group (function group) rather than to the app's combined
    instances". (Preview-era docs and the Flex sample's `@minValue(40)` say 40.)
    """
    parameter = parsed(INFRA / "main.bicep")["parameters"]["maximumInstanceCount"]
    decorators = {d["type"]: d["argument"] for d in parameter["decorators"]}
    assert (decorators["min_value"], decorators["max_value"]) == (1, 1000)
    assert "scale group" in decorators["description"]
    assert "cost ceiling" not in decorators["description"]


def test_packaging_keeps_local_state_out() -> None:
    """.azure/ (azd's environments) is git-ignored; .funcignore keeps test and tool state out.

    azd's "Configure service packaging file exclusions": with a .funcignore present, packaging
    follows its rules alone; only without one do the defaults (`__pycache__`, venvs) apply. So
    every local folder is listed, including the fuzzers' .hypothesis/ and .schemathesis/
    databases and azd's own .azure/ (environment values).
    """
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    assert ".azure/" in ignored
    funcignore = (ROOT / ".funcignore").read_text().splitlines()
    for entry in (".azure/", ".hypothesis/", ".schemathesis/", ".venv/", ".devhost/", "tests/"):
        assert entry in funcignore, entry


def test_account_urls_are_the_accounts_own_blob_endpoints() -> None:
    """BLOBCOPY_ACCOUNT_<NAME>_URL is the account's primaryEndpoints.blob, never a built host name.

    An account created with Azure DNS zone endpoints answers on
    `<name>.z<nn>.blob.storage.azure.net`, so `https://<name>.blob.<suffix>` would name no host;
    ARM's primaryEndpoints.blob is right for both.
    """
    api = INFRA / "app" / "api.bicep"
    variables = parsed(api)["variables"]
    value = variables["accountUrlSettings"]["value"]["config"]["value"]
    assert operator(value, "property_accessor") == {
        "operand_1": "account",
        "operand_2": "blobEndpoint",
    }
    assert variables["copyAccountEndpoints"]["value"]["function"] == {
        "type": "union",
        "parameters": {"arg_1": "sourceAccountEndpoints", "arg_2": "destinationAccountEndpoints"},
    }
    assert "suffixes.storage" not in code_without_comments(api)
    params = parsed(INFRA / "main.bicep")["modules"]["api"]["config"]["params"]
    for param, module in (
        ("sourceAccountEndpoints", "sourceAccess"),
        ("destinationAccountEndpoints", "destinationAccess"),
    ):
        endpoint = operator(params[param]["config"]["blobEndpoint"], "property_accessor")
        assert endpoint is not None
        assert operator(endpoint["operand_1"], "index_accessor") == {
            "operand_1": module,
            "operand_2": "i",
        }
    for path in ("source-access.bicep", "destination-access.bicep"):
        output = parsed(INFRA / "app" / path)["outputs"]["blobEndpoint"]
        assert "primaryEndpoints" in json.dumps(output), path
