"""HTTP trigger route templates, matched the way the Functions host (ASP.NET Core routing) does.

A template such as `copies/{id:guid}/parts/{n:int?}` becomes one regular expression plus a check
per constraint. Literal segments match case-insensitively; values are percent-decoded; an optional
parameter may only end the template; `{*rest}` catches the remainder, slashes included. When more
than one template matches a path, the most specific wins (literal before constrained parameter
before plain parameter before catch-all), as ASP.NET Core orders them.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from urllib.parse import unquote

_PARAM = re.compile(r"\{([^{}]+)\}")
_CONSTRAINT = re.compile(r"^(?P<name>[a-zA-Z]+)(?:\((?P<arg>.*)\))?$")

Check = Callable[[str], bool]


class RouteTemplateError(ValueError):
    """Raised when an HTTP trigger's route template cannot be parsed."""


def _is_int(text: str, low: int, high: int) -> bool:
    return re.fullmatch(r"-?\d+", text) is not None and low <= int(text) <= high


def _parses(parse: Callable[[str], object], error: type[Exception]) -> Check:
    """A check that `parse` accepts the text: ASP.NET Core's guid, datetime and number
    constraints are "the framework's parser accepts it", so each is a parser here too."""

    def check(text: str) -> bool:
        try:
            parse(text)
        except error:
            return False
        return True

    return check


_is_number = _parses(Decimal, InvalidOperation)


def _numbers(arg: str | None, count: int, constraint: str) -> list[int]:
    parts = [] if arg is None else [p.strip() for p in arg.split(",")]
    if len(parts) != count or not all(re.fullmatch(r"-?\d+", p) for p in parts):
        raise RouteTemplateError(f"constraint {constraint!r} needs {count} integer argument(s)")
    return [int(p) for p in parts]


def _constraint(spec: str) -> Check:
    """Build the check for one inline constraint such as `int`, `length(3,8)` or `regex(^a)`."""
    match = _CONSTRAINT.match(spec)
    if match is None:
        raise RouteTemplateError(f"unknown route constraint {spec!r}")
    name, arg = match["name"].lower(), match["arg"]
    simple: dict[str, Check] = {
        "int": lambda t: _is_int(t, -(2**31), 2**31 - 1),
        "long": lambda t: _is_int(t, -(2**63), 2**63 - 1),
        "bool": lambda t: t.lower() in ("true", "false"),
        "guid": _parses(uuid.UUID, ValueError),
        "datetime": _parses(datetime.fromisoformat, ValueError),
        "decimal": _is_number,
        "double": _is_number,
        "float": _is_number,
        "alpha": lambda t: re.fullmatch(r"[a-zA-Z]+", t) is not None,
        "required": lambda t: t != "",
    }
    if name in simple:
        return simple[name]
    if name == "regex" and arg is not None:
        pattern = re.compile(arg, re.IGNORECASE)
        return lambda t: pattern.search(t) is not None
    if name in ("minlength", "maxlength"):
        (n,) = _numbers(arg, 1, spec)
        return (lambda t: len(t) >= n) if name == "minlength" else (lambda t: len(t) <= n)
    if name == "length":
        bounds = _numbers(arg, 2 if arg and "," in arg else 1, spec)
        low, high = (bounds[0], bounds[0]) if len(bounds) == 1 else (bounds[0], bounds[1])
        return lambda t: low <= len(t) <= high
    if name in ("min", "max"):
        (n,) = _numbers(arg, 1, spec)
        if name == "min":
            return lambda t: _is_int(t, n, 2**63)
        return lambda t: _is_int(t, -(2**63), n)
    if name == "range":
        low, high = _numbers(arg, 2, spec)
        return lambda t: _is_int(t, low, high)
    raise RouteTemplateError(f"unknown route constraint {spec!r}")


@dataclass(frozen=True)
class _Param:
    name: str
    group: str
    optional: bool
    catch_all: bool
    default: str | None
    checks: tuple[Check, ...]


def _parse_param(body: str, group: str) -> _Param:
    catch_all = body.startswith("*")
    body = body.lstrip("*")
    default: str | None = None
    if "=" in body:
        body, default = body.split("=", 1)
    optional = body.endswith("?")
    body = body.rstrip("?")
    name, *constraints = body.split(":")
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise RouteTemplateError(f"bad route parameter name {name!r}")
    return _Param(
        name=name,
        group=group,
        optional=optional or catch_all or default is not None,
        catch_all=catch_all,
        default=default,
        checks=tuple(_constraint(c) for c in constraints),
    )


@dataclass(frozen=True)
class RouteTemplate:
    """One compiled route template; `match` gives its route parameters or None."""

    template: str
    pattern: re.Pattern[str]
    params: tuple[_Param, ...]
    precedence: tuple[int, ...]

    @classmethod
    def parse(cls, template: str) -> RouteTemplate:
        """Compile a template (without the route prefix)."""
        segments = [s for s in template.strip("/").split("/") if s != ""]
        regex = ""
        params: list[_Param] = []
        precedence: list[int] = []
        for index, segment in enumerate(segments):
            pieces = _PARAM.split(segment)
            literals, bodies = pieces[0::2], pieces[1::2]
            if not bodies:
                regex += "/" + re.escape(segment)
                precedence.append(1)
                continue
            if len(bodies) == 1 and literals == ["", ""]:
                param = _parse_param(bodies[0], f"p{len(params)}")
                params.append(param)
                if param.optional and index != len(segments) - 1:
                    raise RouteTemplateError(
                        f"route {template!r}: only the last parameter may be optional"
                    )
                inner = ".*" if param.catch_all else "[^/]+"
                part = f"/(?P<{param.group}>{inner})"
                regex += f"(?:{part})?" if param.optional else part
                precedence.append(5 if param.catch_all else 3 if param.checks else 4)
                continue
            part = ""
            for literal, body in zip(literals, [*bodies, None], strict=True):
                part += re.escape(literal)
                if body is not None:
                    param = _parse_param(body, f"p{len(params)}")
                    if param.optional or param.catch_all:
                        raise RouteTemplateError(
                            f"route {template!r}: no optional or catch-all parameter "
                            "inside a segment"
                        )
                    params.append(param)
                    part += f"(?P<{param.group}>[^/]+)"  # greedy: ASP.NET matches right to left
            regex += "/" + part
            precedence.append(2)
        names = [p.name.lower() for p in params]
        if len(set(names)) != len(names):
            raise RouteTemplateError(f"route {template!r} repeats a parameter name")
        return cls(
            template=template,
            pattern=re.compile(f"^{regex}/?$", re.IGNORECASE | re.DOTALL),
            params=tuple(params),
            precedence=tuple(precedence),
        )

    def match(self, path: str) -> dict[str, str] | None:
        """Match a percent-encoded path relative to the route prefix, e.g. `/copies/a%20b`."""
        found = self.pattern.match(path if path.startswith("/") else "/" + path)
        if found is None:
            return None
        values: dict[str, str] = {}
        for param in self.params:
            raw = found.group(param.group)
            if raw is None or raw == "":
                if param.default is not None:
                    values[param.name] = param.default
                continue
            value = unquote(raw)
            if not all(check(value) for check in param.checks):
                return None
            values[param.name] = value
        return values


@dataclass(frozen=True)
class Route:
    """A route template bound to the HTTP methods it accepts (empty = all) and a target."""

    template: RouteTemplate
    methods: frozenset[str]
    target: str


@dataclass(frozen=True)
class RouteMatch:
    target: str
    route_params: Mapping[str, str]


class RouteTable:
    """Every HTTP trigger's route, tried in ASP.NET Core's order of precedence."""

    def __init__(self, routes: Sequence[Route]) -> None:
        self._routes = sorted(routes, key=lambda r: (r.template.precedence, r.template.template))

    def match(self, method: str, path: str) -> RouteMatch | None:
        """Find the function for a request; a path that matches with another method is no match."""
        for route in self._routes:
            if route.methods and method.upper() not in route.methods:
                continue
            params = route.template.match(path)
            if params is not None:
                return RouteMatch(target=route.target, route_params=params)
        return None
