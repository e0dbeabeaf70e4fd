"""Replication in the Bicep (issue 13): what a deployment with two rules over one source account
creates, worked out from the parse trees.

pycep gives the trees but no values, so `Deployment` evaluates the little of Bicep that
infra/ uses (parameters, variables, loops with conditions, modules and their outputs, the
functions named in `FUNCTIONS`) for one set of parameters, with made-up values for what only
Azure knows (resource IDs, principal IDs, an existing account's location). Two readings of
pycep's trees that it relies on: a bare string is a name when the file or a loop defines that
name, else a literal; and `a.?b` comes out as `a.b`, so every property access is safe (a
missing property is None, as `.?` gives).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from pycep import BicepParser

from tests.unit.test_infra import INFRA, parsed

SUBSCRIPTION = "/subscriptions/00000000-0000-0000-0000-000000000000"
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
INTERPOLATION = re.compile(r"\$\{([^{}]*)\}")
TOPIC = "Microsoft.EventGrid/systemTopics"
SUBSCRIPTION_TYPE = "Microsoft.EventGrid/systemTopics/eventSubscriptions"
ROLE_ASSIGNMENT = "Microsoft.Authorization/roleAssignments"
# Built-in role IDs (Azure built-in roles reference).
QUEUE_MESSAGE_SENDER = "c6a89b2d-59bc-44d0-9896-0f6e12d7b80a"
BLOB_DATA_CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
COMMITTED_WRITES = ["CopyBlob", "PutBlob", "PutBlockList", "FlushWithClose", "SftpCommit"]
DELETES = ["DeleteBlob", "DeleteFile", "SftpRemove"]


class Unknown(str):
    """A value only Azure knows at deployment (`topic.identity.principalId`): its own path."""


@cache
def expression(text: str) -> Any:
    """The pycep tree of one expression (the inside of a `${...}`)."""
    return BicepParser().parse(text=f"var x = {text}\n")["variables"]["x"]["value"]


def stable(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


@dataclass
class Created:
    """One resource a deployment creates (or, `existing`, refers to)."""

    file: str
    symbol: str
    type: str
    resource_group: str
    body: dict[str, Any]


@dataclass
class Module:
    """One deployment of a Bicep file: its parameters' values and its resource group."""

    path: Path
    params: dict[str, Any]
    resource_group: str
    deployment: Deployment
    cache: dict[str, Any] = field(default_factory=dict)

    @property
    def doc(self) -> dict[str, Any]:
        return parsed(self.path)

    def lookup(self, name: str, local: dict[str, Any]) -> Any:
        if name in local:
            return local[name]
        if name in self.params:
            return self.params[name]
        if name not in self.cache:
            if name in self.doc.get("variables", {}):
                value = self.eval(self.doc["variables"][name]["value"], {})
            elif name in self.doc.get("resources", {}):
                value = self.resource(name)
            elif name in self.doc.get("modules", {}):
                value = self.module(name)
            else:
                raise NameError(f"{self.path.name}: {name}")
            self.cache[name] = value
        return self.cache[name]

    def defines(self, name: str, local: dict[str, Any]) -> bool:
        sections = ("variables", "resources", "modules")
        return (
            name in local
            or name in self.params
            or any(name in self.doc.get(s, {}) for s in sections)
        )

    # --- expressions ---------------------------------------------------------------------
    def eval(self, node: Any, local: dict[str, Any]) -> Any:
        if isinstance(node, str):
            if NAME.match(node) and self.defines(node, local):
                return self.lookup(node, local)
            return INTERPOLATION.sub(lambda m: str(self.eval(expression(m[1]), local)), node)
        if isinstance(node, list):
            return [self.eval(item, local) for item in node]
        if not isinstance(node, dict):
            return node
        if "loop_type" in node:
            return [value for value, _ in self.loop(node, local)]
        if "operator" in node:
            return self.operator(node["operator"]["type"], node["operator"]["operands"], local)
        if "function" in node:
            function = node["function"]
            given = [a for a in (function.get("parameters") or {}).values() if a is not None]
            arguments = [self.eval(a, local) for a in given]
            return FUNCTIONS[function["type"]](self, *arguments)
        return {key: self.eval(value, local) for key, value in node.items()}

    def operator(self, kind: str, operands: dict[str, Any], local: dict[str, Any]) -> Any:
        def ev(key: str) -> Any:
            return self.eval(operands[key], local)

        if kind == "property_accessor":
            return self.path_of(ev("operand_1"), operands["operand_2"], local)
        if kind == "index_accessor":
            return ev("operand_1")[ev("operand_2")]
        if kind == "coalesce":
            first = ev("operand_1")
            return first if first is not None else ev("operand_2")
        if kind == "conditional":
            return ev("true_value") if ev("condition") else ev("false_value")
        if kind == "not":
            value = ev("bool_value")
            assert isinstance(value, bool), f"pycep read '!' over {value!r}"
            return not value
        if kind == "minus" and set(operands) == {"integer_value"}:
            return -ev("integer_value")
        binary: dict[str, Callable[[Any, Any], Any]] = {
            "equals": lambda a, b: a == b,
            "not_equals": lambda a, b: a != b,
            "and": lambda a, b: a and b,
            "or": lambda a, b: a or b,
        }
        return binary[kind](ev("operand_1"), ev("operand_2"))

    def path_of(self, base: Any, path: Any, local: dict[str, Any]) -> Any:
        """`base.x.y`: pycep nests the path to the right (`a.(b.c)`)."""
        if isinstance(path, str):
            return member(base, path)
        accessor = path.get("operator", {})
        assert accessor.get("type") == "property_accessor", f"pycep misread a path: {path}"
        head = member(base, accessor["operands"]["operand_1"])
        return self.path_of(head, accessor["operands"]["operand_2"], local)

    def loop(self, node: dict[str, Any], local: dict[str, Any]) -> Iterator[tuple[Any, int]]:
        """(value, index) of each item a `[for ...: if(...) ...]` keeps."""
        detail = node["loop_type"]["detail"]
        for index, item in enumerate(self.eval(detail["array_name"], local)):
            scope = {**local, detail["item_name"]: item}
            if "index_name" in detail:
                scope[detail["index_name"]] = index
            if node.get("condition") is None or self.eval(node["condition"], scope):
                yield self.eval(node["config"], scope), index

    # --- resources and modules -----------------------------------------------------------
    def expand(self, declared: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """(config, loop scope) per instance of a resource or module, conditions applied."""
        config = declared["config"]
        if "loop_type" in config:
            detail = config["loop_type"]["detail"]
            found = []
            for index, item in enumerate(self.eval(detail["array_name"], {})):
                scope = {detail["item_name"]: item}
                if "index_name" in detail:
                    scope[detail["index_name"]] = index
                keep = config.get("condition") is None or self.eval(config["condition"], scope)
                found.append((config["config"], scope) if keep else ({}, {"skipped": True}))
            return found
        if "condition" in config and config["condition"] is not None:
            if not self.eval(config["condition"], {}):
                return []
            return [(config["config"], {})]
        return [(config, {})]

    def resource(self, symbol: str) -> Any:
        declared = self.doc["resources"][symbol]
        made = [self.one_resource(declared, c, s) for c, s in self.expand(declared) if c]
        return made if "loop_type" in declared["config"] else (made[0] if made else None)

    def one_resource(self, declared: dict[str, Any], config: Any, scope: dict[str, Any]) -> Any:
        body = self.eval(config, scope)
        parent = body.pop("parent", None)
        prefix = (
            f"{parent['id']}/{declared['type'].rsplit('/', 1)[1]}"
            if parent
            else f"{SUBSCRIPTION}/resourceGroups/{self.resource_group}/providers/{declared['type']}"
        )
        body["id"] = f"{prefix}/{body['name']}"
        return Runtime(body, label=f"{declared['type']}:{body['name']}")

    def module(self, symbol: str) -> Any:
        declared = self.doc["modules"][symbol]
        made: list[Module | None] = []
        for config, scope in self.expand(declared):
            if not config:
                made.append(None)
                continue
            target = self.scope_of(config.get("scope"), scope)
            params = self.eval(config.get("params", {}), scope)
            made.append(
                self.deployment.deploy(
                    self.path.parent / declared["detail"]["path"], params, target
                )
            )
        return made if "loop_type" in declared["config"] else (made[0] if made else None)

    def scope_of(self, node: Any, local: dict[str, Any]) -> str:
        if node is None:
            return self.resource_group
        value = self.eval(node, local)
        return str(value["resourceGroup"] if "resourceGroup" in value else value["name"])

    def outputs(self) -> dict[str, Any]:
        return {name: self.eval(o["value"], {}) for name, o in self.doc.get("outputs", {}).items()}

    def created(self) -> Iterator[Created]:
        for symbol, declared in self.doc.get("resources", {}).items():
            if declared["existing"]:
                continue
            value = self.lookup(symbol, {})
            for body in value if isinstance(value, list) else [value] if value else []:
                yield Created(self.path.name, symbol, declared["type"], self.resource_group, body)


class Runtime(dict[str, Any]):
    """A resource's properties: a property not in its Bicep is one Azure sets (Unknown)."""

    def __init__(self, body: dict[str, Any], label: str) -> None:
        super().__init__(body)
        self.label = label


def member(base: Any, key: str) -> Any:
    if isinstance(base, Module):
        return base.outputs() if key == "outputs" else base.params.get(key)
    if isinstance(base, Runtime):
        if key not in base:
            return Unknown(f"{base.label}.{key}")
        value = base[key]
        return Runtime(value, f"{base.label}.{key}") if isinstance(value, dict) else value
    if isinstance(base, Unknown):
        return Unknown(f"{base}.{key}")
    return base.get(key) if isinstance(base, dict) else None


def load_json(module: Module, path: str, *_: Any) -> Any:
    return json.loads((module.path.parent / path).read_text())


def concat(_: Module, *parts: Any) -> Any:
    return list(itertools.chain(*parts)) if isinstance(parts[0], list) else "".join(parts)


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "contains": lambda _, container, item: item in container,
    "empty": lambda _, value: not value,
    "concat": concat,
    "union": lambda _, *parts: list({json.dumps(p): p for a in parts for p in a}.values()),
    "string": lambda _, value: (
        value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    ),
    "to_lower": lambda _, value: value.lower(),
    "unique_string": lambda _, *parts: stable(*parts)[:13],
    "guid": lambda _, *parts: str(uuid.UUID(stable(*parts)[:32])),
    "load_json_content": load_json,
    "subscription": lambda _, *__: {
        "id": SUBSCRIPTION,
        "subscriptionId": SUBSCRIPTION.rsplit("/")[-1],
    },
    "resource_group": lambda _, name, *__: {"resourceGroup": name},
    "subscription_resource_id": lambda _, kind, name: f"{SUBSCRIPTION}/providers/{kind}/{name}",
    "take": lambda _, value, count: value[:count],
    "join": lambda _, items, separator: separator.join(items),
    "format": lambda _, text, *args: re.sub(r"\{(\d+)\}", lambda m: str(args[int(m[1])]), text),
    "to_upper": lambda _, value: value.upper(),
    "tenant": lambda _, *__: {"tenantId": "00000000-0000-0000-0000-00000000000t"},
    "environment": lambda _, *__: Runtime({}, "environment()"),
}


class Deployment:
    """Every module deployment under main.bicep for one set of parameters."""

    def __init__(self, params: dict[str, Any]) -> None:
        self.modules: list[Module] = []
        self.main = self.deploy(INFRA / "main.bicep", params, "")

    def deploy(self, path: Path, params: dict[str, Any], resource_group: str) -> Module:
        declared = parsed(path).get("parameters", {})
        unknown = set(params) - set(declared)
        assert not unknown, f"{path.name} has no parameter {unknown}"
        defaults = {name: p["default"] for name, p in declared.items() if "default" in p}
        module = Module(path, {**defaults, **params}, resource_group, self)
        module.params = {**{k: module.eval(v, {}) for k, v in defaults.items()}, **params}
        self.modules.append(module)
        return module

    def created(self, type_name: str) -> list[Created]:
        # Modules deploy when their symbol is first looked up: look up every one of main.bicep's.
        for symbol in parsed(INFRA / "main.bicep")["modules"]:
            self.main.lookup(symbol, {})
        return [c for m in list(self.modules) for c in m.created() if c.type == type_name]


# --- the sample ----------------------------------------------------------------------------

LOGS = {
    "name": "logs",
    "source": {"account": "stsource01", "container": "data", "prefix": "logs/", "suffix": ".csv"},
    "destination": {"account": "starchive01", "container": "logs-copy"},
    "deletes": True,
}
IMAGES = {
    "name": "images",
    "source": {"account": "stsource01", "container": "data", "prefix": "img/"},
    "destination": {"account": "starchive01", "container": "logs-copy", "prefix": "img-copy/"},
}
SAMPLE = {
    "environmentName": "blobcopy-test",
    "location": "swedencentral",
    "sourceAccounts": [
        {"name": "stsource01", "resourceGroup": "rg-data"},
        {"name": "stnorules01"},
    ],
    "destinationAccounts": [
        {"name": "starchive01", "resourceGroup": "rg-archive", "containers": ["logs-copy"]}
    ],
    "replicationRules": [LOGS, IMAGES],
}


@cache
def sample() -> Deployment:
    return Deployment(SAMPLE)


def host_storage() -> Created:
    (storage,) = sample().created("Microsoft.Storage/storageAccounts")
    return storage


def topics() -> list[Created]:
    return sample().created(TOPIC)


def subscriptions() -> dict[str, Created]:
    return {c.body["name"]: c for c in sample().created(SUBSCRIPTION_TYPE)}


def test_one_system_topic_for_the_one_source_account_rules_name() -> None:
    """Two rules over stsource01: one topic, in that account's group and region, for its events;
    the source account no rule names gets none."""
    (topic,) = topics()
    assert (topic.file, topic.symbol) == ("replication-topic.bicep", "topic")
    assert topic.resource_group == "rg-data"
    assert topic.body["name"] == "egst-stsource01"
    assert topic.body["identity"] == {"type": "SystemAssigned"}
    properties = topic.body["properties"]
    assert properties["topicType"] == "Microsoft.Storage.StorageAccounts"
    account = "Microsoft.Storage/storageAccounts/stsource01"
    assert properties["source"] == f"{SUBSCRIPTION}/resourceGroups/rg-data/providers/{account}"
    assert topic.body["location"] == Unknown(
        "Microsoft.Storage/storageAccounts:stsource01.location"
    )


def test_the_topic_logs_delivery_failures_to_the_app_workspace() -> None:
    """Delivery failures go to the Log Analytics workspace the app logs to."""
    (workspace,) = sample().created("Microsoft.OperationalInsights/workspaces")
    (setting,) = sample().created("Microsoft.Insights/diagnosticSettings")
    assert setting.body["scope"]["name"] == "egst-stsource01"
    assert setting.body["properties"] == {
        "workspaceId": workspace.body["id"],
        "logs": [{"category": "DeliveryFailures", "enabled": True}],
    }


def test_an_existing_system_topic_is_adopted_by_name() -> None:
    """`systemTopicName` on a source account names the topic (Event Grid allows one per account)."""
    accounts = [{"name": "stsource01", "resourceGroup": "rg-data", "systemTopicName": "mine"}]
    (topic,) = Deployment({**SAMPLE, "sourceAccounts": accounts}).created(TOPIC)
    assert topic.body["name"] == "mine"


def test_one_subscription_per_rule_with_the_rules_filters() -> None:
    """Each rule's subscription takes its container and prefix, its suffix, case-sensitively, and
    only committed writes; deletes only where the rule mirrors them."""
    found = subscriptions()
    assert set(found) == {"blobcopy-logs", "blobcopy-images"}
    assert {c.resource_group for c in found.values()} == {"rg-data"}
    logs = found["blobcopy-logs"].body["properties"]["filter"]
    assert logs["subjectBeginsWith"] == "/blobServices/default/containers/data/blobs/logs/"
    assert logs["subjectEndsWith"] == ".csv"
    assert logs["isSubjectCaseSensitive"] is True
    assert logs["includedEventTypes"] == [
        "Microsoft.Storage.BlobCreated",
        "Microsoft.Storage.BlobDeleted",
    ]
    assert logs["advancedFilters"] == [
        {"operatorType": "StringIn", "key": "data.api", "values": COMMITTED_WRITES + DELETES}
    ]
    images = found["blobcopy-images"].body["properties"]["filter"]
    assert images["subjectBeginsWith"] == "/blobServices/default/containers/data/blobs/img/"
    assert images["subjectEndsWith"] == ""
    assert images["includedEventTypes"] == ["Microsoft.Storage.BlobCreated"]
    assert images["advancedFilters"][0]["values"] == COMMITTED_WRITES


def test_subscriptions_deliver_to_the_app_queue_with_the_topic_identity() -> None:
    """Delivery and dead-letter both with the topic's system identity, into the app's storage:
    the replication queue (messages that never expire) and the dead-letter container."""
    storage = host_storage()
    for subscription in subscriptions().values():
        properties = subscription.body["properties"]
        assert "destination" not in properties and "deadLetterDestination" not in properties
        assert properties["eventDeliverySchema"] == "EventGridSchema"
        assert properties["deliveryWithResourceIdentity"] == {
            "identity": {"type": "SystemAssigned"},
            "destination": {
                "endpointType": "StorageQueue",
                "properties": {
                    "resourceId": storage.body["id"],
                    "queueName": "blob-events",
                    "queueMessageTimeToLiveInSeconds": -1,
                },
            },
        }
        assert properties["deadLetterWithResourceIdentity"] == {
            "identity": {"type": "SystemAssigned"},
            "deadLetterDestination": {
                "endpointType": "StorageBlob",
                "properties": {
                    "resourceId": storage.body["id"],
                    "blobContainerName": "blob-events-deadletter",
                },
            },
        }
        assert properties["retryPolicy"] == {
            "maxDeliveryAttempts": 30,
            "eventTimeToLiveInMinutes": 1440,
        }


def test_the_host_storage_has_the_queue_and_the_dead_letter_container() -> None:
    """What the subscriptions deliver to exists in the app's own storage."""
    queues = {
        c.body["name"]
        for c in sample().created("Microsoft.Storage/storageAccounts/queueServices/queues")
    }
    assert {"blob-events", "blob-events-rejected", "blob-events-poison"} <= queues
    containers = sample().created("Microsoft.Storage/storageAccounts/blobServices/containers")
    assert "blob-events-deadletter" in {c.body["name"] for c in containers}
    assert {c.resource_group for c in containers} == {host_storage().resource_group}


def test_the_topic_identity_may_send_to_the_queue_and_dead_letter_only() -> None:
    """Storage Queue Data Message Sender on the queue, Storage Blob Data Contributor on the
    dead-letter container, both for the topic's principal, in the app's resource group."""
    (topic,) = topics()
    principal = Unknown(f"{TOPIC}:egst-stsource01.identity.principalId")
    storage = host_storage()
    queue = f"{storage.body['id']}/queueServices/default/queues/blob-events"
    container = f"{storage.body['id']}/blobServices/default/containers/blob-events-deadletter"
    held = {
        (a.body["properties"]["roleDefinitionId"].rsplit("/", 1)[1], a.resource_group)
        for a in sample().created(ROLE_ASSIGNMENT)
        if a.body["properties"]["principalId"] == principal
    }
    assert held == {
        (QUEUE_MESSAGE_SENDER, storage.resource_group),
        (BLOB_DATA_CONTRIBUTOR, storage.resource_group),
    }
    roles = parsed(INFRA / "app" / "replication-roles.bicep")["resources"]
    assert roles["topicQueueRole"]["config"]["scope"] == "queue"
    assert roles["topicDeadLetterRole"]["config"]["scope"] == "deadLetterContainer"
    module = next(m for m in sample().modules if m.path.name == "replication-roles.bicep")
    assert module.lookup("queue", {})["id"] == queue
    assert module.lookup("deadLetterContainer", {})["id"] == container
    assert topic.body["name"] in module.params["topicName"]


def test_subscriptions_wait_for_the_roles() -> None:
    """Event Grid dead-letters a 403 at once: the subscriptions deploy after the roles."""
    config = parsed(INFRA / "main.bicep")["modules"]["replicationSubscriptions"]["config"]
    assert config["config"]["dependsOn"] == ["replicationRoles"]


def test_the_app_gets_the_same_rules_and_queue() -> None:
    """BLOBCOPY_REPLICATION_RULES is the parameter as JSON, and the app reads it back equal."""
    api = next(m for m in sample().modules if m.path.name == "api.bicep")
    settings = {s["name"]: s["value"] for s in api.lookup("baseAppSettings", {})}
    assert json.loads(settings["BLOBCOPY_REPLICATION_RULES"]) == [LOGS, IMAGES]
    assert settings["BLOBCOPY_REPLICATION_QUEUE"] == "blob-events"


@pytest.mark.parametrize(
    ("vnet", "rules"), [(False, []), (True, []), (False, [LOGS]), (True, [LOGS])]
)
def test_event_grid_reaches_the_host_storage(vnet: bool, rules: list[Any]) -> None:
    """With a VNet and rules the public endpoint stays on, Deny by default, trusted services
    through (Event Grid delivers from outside any VNet); with a VNet and no rules it is off."""
    (storage,) = Deployment({**SAMPLE, "vnetEnabled": vnet, "replicationRules": rules}).created(
        "Microsoft.Storage/storageAccounts"
    )
    properties = storage.body["properties"]
    assert properties["publicNetworkAccess"] == ("Disabled" if vnet and not rules else "Enabled")
    assert properties["networkAcls"]["defaultAction"] == ("Deny" if vnet else "Allow")
    assert properties["networkAcls"]["bypass"] == ("AzureServices" if rules else "None")


def test_no_rules_no_event_grid() -> None:
    """The default deployment creates no topic, subscription or topic role."""
    plain = Deployment({k: SAMPLE[k] for k in ("environmentName", "location", "sourceAccounts")})
    assert not plain.created(TOPIC) and not plain.created(SUBSCRIPTION_TYPE)
    assert {m.path.name for m in plain.modules}.isdisjoint({"replication-roles.bicep"})


def test_azd_maps_the_replication_settings() -> None:
    """`azd env set BLOBCOPY_REPLICATION_RULES ...` reaches replicationRules (default none)."""
    parameters = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    assert parameters["replicationRules"] == {"value": "${BLOBCOPY_REPLICATION_RULES=[]}"}
    assert parameters["replicationQueueName"] == {
        "value": "${BLOBCOPY_REPLICATION_QUEUE=blob-events}"
    }
