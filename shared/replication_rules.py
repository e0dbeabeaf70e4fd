"""Replication rules: which source blobs are copied where when Event Grid says they were written.

`BLOBCOPY_REPLICATION_RULES` holds a JSON list; each rule maps a source account + container
(+ optional prefix, suffix and name globs) to a destination account + container (+ optional
prefix), with the options each copy takes:

    [{"name": "replica",
      "source": {"account": "devstoreaccount2", "container": "replica-src",
                 "prefix": "", "suffix": "", "include": []},
      "destination": {"account": "devstoreaccount1", "container": "replica-dst", "prefix": ""},
      "overwrite": "if_newer", "lease_source": "none", "tier": null, "metadata": {},
      "verify": false}]

Checked when the settings load (shared/settings.py): every error names the rule and the field,
both accounts must be configured, and both sides must pass the allowlists. This module imports
no request model (shared/requests.py imports the settings): the option values are the copy
request's, which tests/unit/test_replication_rules.py holds equal.
"""

from __future__ import annotations

import fnmatch
import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.accounts import AccountRegistry, BlobLocation
from shared.errors import ConfigurationError

SETTING = "BLOBCOPY_REPLICATION_RULES"
#: A rule's name is part of every instance id it starts (shared/replication.py), so it is short
#: and made of characters an instance id takes.
RULE_NAME = r"^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$"
#: Azure's container names: 3-63 lower-case letters, digits and single hyphens.
CONTAINER = r"^[a-z0-9](?:[a-z0-9]|-[a-z0-9])*$"
MAX_RULES = 100
_STRICT = ConfigDict(frozen=True, extra="forbid", strict=True)


class RuleSource(BaseModel):
    """Where a rule listens: one container of one account, names under `prefix`."""

    model_config = _STRICT
    account: Annotated[str, Field(min_length=1)]
    container: Annotated[str, Field(min_length=3, max_length=63, pattern=CONTAINER)]
    prefix: Annotated[str, Field(max_length=1024)] = ""
    #: Event Grid's `subjectEndsWith`: the name must end with it (`.csv`).
    suffix: Annotated[str, Field(max_length=256)] = ""
    #: fnmatch globs on the name after `prefix`, as a batch's `include`; none = every name.
    include: Annotated[list[Annotated[str, Field(min_length=1)]], Field(max_length=20)] = []

    def takes(self, name: str) -> bool:
        """Whether a blob of this container is the rule's."""
        if not name.startswith(self.prefix) or not name.endswith(self.suffix):
            return False
        rest = name[len(self.prefix) :]
        return not self.include or any(fnmatch.fnmatchcase(rest, g) for g in self.include)


class RuleDestination(BaseModel):
    """Where a rule writes: the source name, `source.prefix` swapped for this `prefix`."""

    model_config = _STRICT
    account: Annotated[str, Field(min_length=1)]
    container: Annotated[str, Field(min_length=3, max_length=63, pattern=CONTAINER)]
    prefix: Annotated[str, Field(max_length=1024)] = ""


class ReplicationRule(BaseModel):
    """One rule; the copy options are those of a copy request (README, "HTTP API")."""

    model_config = _STRICT
    name: Annotated[str, Field(pattern=RULE_NAME)]
    source: RuleSource
    destination: RuleDestination
    #: `if_newer`: an old event that arrives after a newer write was copied changes nothing.
    overwrite: Literal["always", "never", "if_newer"] = "if_newer"
    #: `none`: a lease would refuse the producer's next write to a blob being replicated; a
    #: source that changes mid-copy fails that copy, and its own event copies the new content.
    lease_source: Literal["renewed", "none", "infinite"] = "none"
    tier: Literal["Hot", "Cool", "Cold", "Archive"] | None = None
    metadata: dict[str, str] = {}
    verify: bool = False
    #: Mirror `BlobDeleted` too (off by default): delete the destination, unless it holds a
    #: write newer than the delete or was not written by replication (shared/replicaops.py).
    deletes: bool = False

    def destination_name(self, source_name: str) -> str:
        """The destination blob's name for a source blob the rule takes."""
        return self.destination.prefix + source_name[len(self.source.prefix) :]

    def copy_options(self) -> dict[str, Any]:
        """The per-copy options, as a copy request's fields."""
        options = self.model_dump(
            mode="json", include={"overwrite", "lease_source", "tier", "metadata", "verify"}
        )
        return {k: v for k, v in options.items() if v is not None}


def _rule_label(raw: Any, index: int) -> str:
    name = raw.get("name") if isinstance(raw, dict) else None
    return f"rule {name!r}" if isinstance(name, str) and name else f"rule #{index + 1}"


def _first_error(exc: ValidationError) -> str:
    err = exc.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(p) for p in err["loc"]) or "rule"
    return f"{where}: {err['msg'].removeprefix('Value error, ')}"


def _check_sides(rule: ReplicationRule, registry: AccountRegistry, label: str) -> None:
    """Both accounts configured, both sides inside the allowlists, no rule into itself."""
    accounts = {a.name: a for a in registry.accounts}
    for side, end in (("source", rule.source), ("destination", rule.destination)):
        if end.account not in accounts:
            raise ConfigurationError(
                f"{SETTING}: {label}: {side}.account: {end.account!r} is not in BLOBCOPY_ACCOUNTS"
            )
    src = BlobLocation(accounts[rule.source.account], rule.source.container, "")
    dst = BlobLocation(accounts[rule.destination.account], rule.destination.container, "")
    if not registry.source_allowed(src):
        raise ConfigurationError(f"{SETTING}: {label}: source: outside BLOBCOPY_ALLOWED_SOURCES")
    if not registry.destination_allowed(dst):
        raise ConfigurationError(
            f"{SETTING}: {label}: destination: outside BLOBCOPY_ALLOWED_DESTINATIONS"
        )
    same_container = src.key[:2] == dst.key[:2]
    if same_container and (
        rule.destination.prefix.startswith(rule.source.prefix)
        or rule.source.prefix.startswith(rule.destination.prefix)
    ):
        # Each copy would raise an event the rule takes again: replication without end.
        raise ConfigurationError(
            f"{SETTING}: {label}: destination.prefix: overlaps the source's own range"
        )


def parse_rules(text: str | None, registry: AccountRegistry) -> tuple[ReplicationRule, ...]:
    """The rules of `BLOBCOPY_REPLICATION_RULES` (unset or empty: none), or ConfigurationError
    naming the rule and the field."""
    if text is None or not text.strip():
        return ()
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise ConfigurationError(f"{SETTING} is not JSON: {exc}") from None
    if not isinstance(raw, list):
        raise ConfigurationError(f"{SETTING} must be a JSON list of rules")
    if len(raw) > MAX_RULES:
        raise ConfigurationError(f"{SETTING}: at most {MAX_RULES} rules")
    rules: list[ReplicationRule] = []
    for index, item in enumerate(raw):
        label = _rule_label(item, index)
        try:
            rule = ReplicationRule.model_validate(item)
        except ValidationError as exc:
            raise ConfigurationError(f"{SETTING}: {label}: {_first_error(exc)}") from None
        if any(r.name == rule.name for r in rules):
            raise ConfigurationError(f"{SETTING}: {label}: name: used by another rule")
        _check_sides(rule, registry, label)
        rules.append(rule)
    _check_cycles(rules)
    return tuple(rules)


def _feeds(writer: ReplicationRule, reader: ReplicationRule) -> bool:
    """Whether `writer`'s copies land where `reader` listens (prefixes only, as the one-rule
    check: a suffix or glob may keep them apart, which is not worth the risk)."""
    same = (writer.destination.account, writer.destination.container) == (
        reader.source.account,
        reader.source.container,
    )
    out, into = writer.destination.prefix, reader.source.prefix
    return same and (out.startswith(into) or into.startswith(out))


def _check_cycles(rules: list[ReplicationRule]) -> None:
    """No rules that copy into each other's sources (A -> B -> ... -> A): each copy raises an
    event the next rule takes, with a newer sequencer each time, so one write would replicate
    for ever. A chain without a loop is fine. (A rule into its own range: _check_sides.)"""
    for first in rules:
        came_from: dict[str, ReplicationRule] = {}
        todo = [first]
        while todo:  # breadth-first over the rules each copy feeds: back to `first`?
            here = todo.pop(0)
            for after in rules:
                if not _feeds(here, after) or after.name in came_from or after is here:
                    continue
                came_from[after.name] = here
                if after is first:
                    path, step = [first], here
                    while step is not first:
                        path.append(step)
                        step = came_from[step.name]
                    names = " -> ".join(repr(r.name) for r in [first, *reversed(path)])
                    raise ConfigurationError(
                        f"{SETTING}: rule {first.name!r}: destination: its copies come back to "
                        f"its source ({names}): replication without end"
                    )
                todo.append(after)
