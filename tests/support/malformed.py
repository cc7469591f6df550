"""Hypothesis strategies for malformed requests: path parameters chosen by the argument's
name (`person_id` gets people, `team_id` teams, `token` link tokens, …) mixed with ids that
exist nowhere, negative, zero, huge and non-numeric values; random or wrongly typed form fields,
huge strings, invalid UTF-8, JSON where a form is expected and the reverse, wrong content types,
bogus CSRF tokens and bearer tokens, and SCIM-shaped JSON with wrong parts.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from hypothesis import strategies as st
from werkzeug.routing import Rule

from pulse.delivery.tokens import new_token
from tests.support.route_fuzz import FuzzWorld

SCIM_JSON = "application/scim+json"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


# -- path parameters -------------------------------------------------------------------------

ARGUMENT = re.compile(r"<(?:(?P<converter>[a-zA-Z_][a-zA-Z0-9_]*)(?:\([^)]*\))?:)?(?P<name>[^>]+)>")
NOT_AN_ID = [
    "0",
    "-1",
    "-7",
    "999999",
    "2147483648",
    "9223372036854775808",
    "9" * 30,
    "abc",
    "1.5",
    "1e3",
    "%20",
    "٣",
]


def wrong_tokens() -> st.SearchStrategy[str]:
    """Tokens of the wrong length or alphabet, and a well-formed one that was never issued."""
    return st.one_of(
        st.sampled_from(["", "x", "a" * 42, "a" * 44, "a" * 500, "..", "%00", "é" * 43]),
        st.text(max_size=60).filter(lambda t: "/" not in t),
        st.builds(new_token),
    )


def path_value(name: str, converter: str | None, world: FuzzWorld) -> st.SearchStrategy[str]:
    """Values for one path argument, chosen by what its name says it is."""
    kind = name.removesuffix("_id")
    if converter in {"int", "float"} or name.endswith("_id"):
        known = world.ids.get(kind) or world.all_ids()
        return st.one_of(st.sampled_from([str(i) for i in known]), st.sampled_from(NOT_AN_ID))
    if name == "token" or name.endswith("token"):
        return st.one_of(st.sampled_from(sorted(world.tokens.values())), wrong_tokens())
    return st.one_of(
        st.sampled_from(["x", "..", "a/b", "index.html", "%2e%2e/%2e%2e/etc/passwd"]),
        st.text(max_size=40),
    )


@st.composite
def fill_path(draw: st.DrawFn, rule: Rule, world: FuzzWorld) -> str:
    """A URL for `rule` with each argument replaced by a drawn value (quoted as a client would)."""

    def replace(match: re.Match[str]) -> str:
        value = draw(path_value(match["name"], match["converter"], world))
        safe = "/" if match["converter"] == "path" else ""
        return quote(value, safe=safe) or "x"

    return ARGUMENT.sub(replace, rule.rule)


# -- bodies ----------------------------------------------------------------------------------

CONTENT_TYPES = [
    "application/x-www-form-urlencoded",
    "application/x-www-form-urlencoded; charset=utf-16",
    "multipart/form-data",
    "multipart/form-data; boundary=nope",
    "application/json",
    "application/scim+json",
    "text/plain",
    "application/xml",
    "application/octet-stream",
]
INVALID_UTF8 = [b"\xff\xfe\xfd", b"\xc3\x28", b"email=\xe9\xff&name=\x80", b'{"a": "\xff"}']
HUGE = st.sampled_from([5_000, 70_000, 400_000, 3_000_000]).map(lambda n: "x" * n)
# Text any client can send: no lone surrogates, which no encoding carries.
TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=30)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=10,
)


def form_value() -> st.SearchStrategy[str]:
    return st.one_of(
        TEXT,
        st.integers(-(2**70), 2**70).map(str),
        st.sampled_from(["", " ", "true", "null", "[]", "{}", "-1", "0", "1.5", "NaN", "\x00"]),
        HUGE,
    )


@st.composite
def form_fields(draw: st.DrawFn, names: list[str], csrf: list[str]) -> dict[str, Any]:
    """Random fields, some with names the app's forms use, some values lists or huge;
    `csrf` is what the csrf_token field may hold (never a valid token when CSRF is on)."""
    keys = st.one_of(st.sampled_from(names), TEXT.filter(bool)) if names else TEXT.filter(bool)
    fields: dict[str, Any] = draw(
        st.dictionaries(
            keys, st.one_of(form_value(), st.lists(form_value(), max_size=3)), max_size=6
        )
    )
    choice = draw(st.sampled_from(["missing", *csrf]))
    if choice == "missing":
        fields.pop("csrf_token", None)
    else:
        fields["csrf_token"] = choice
    return fields


@dataclass
class Malformed:
    """One request to send: method, query string, headers and body."""

    method: str
    query: str
    headers: dict[str, str]
    data: bytes | dict[str, Any] | None
    content_type: str | None

    def send(self, client: Any, path: str) -> Any:
        kwargs: dict[str, Any] = {"method": self.method, "headers": self.headers}
        if self.content_type is not None:
            kwargs["content_type"] = self.content_type
        url = f"{path}?{self.query}" if self.query else path
        return client.open(url, data=self.data, **kwargs)

    def describe(self) -> str:
        data = self.data
        if isinstance(data, bytes | str) and len(data) > 200:
            data = data[:200]
        elif isinstance(data, dict):
            data = {
                k: (v[:40] + "…" if isinstance(v, str) and len(v) > 40 else v)
                for k, v in data.items()
            }
        return f"{self.method} ?{self.query[:100]} {self.content_type} {data!r}"


def queries(names: list[str]) -> st.SearchStrategy[str]:
    """Query strings: broken escapes, known argument names with values of the wrong type."""
    pairs = st.dictionaries(
        st.one_of(st.sampled_from(names or ["q"]), TEXT), form_value(), max_size=3
    )
    return st.one_of(
        st.just(""),
        st.sampled_from(["%ff%fe", "a=%zz", "page=-1", "next=//evil.example", "x=1&x=2"]),
        pairs.map(lambda d: "&".join(f"{quote(k)}={quote(v)}" for k, v in d.items())),
    )


@st.composite
def malformed_request(
    draw: st.DrawFn,
    methods: list[str],
    names: list[str],
    csrf: list[str],
    bearer: tuple[str, ...] = (),
    query_names: tuple[str, ...] = (),
) -> Malformed:
    """A request whose body is not what the route expects: random or wrongly typed form fields,
    invalid UTF-8, JSON where a form is expected and the reverse, wrong content types."""
    method = draw(st.sampled_from(methods))
    query = draw(queries([*query_names, *names]))
    headers: dict[str, str] = {}
    auth = draw(st.sampled_from(["none", *bearer]))
    if auth != "none":
        headers["Authorization"] = auth
    kind = draw(st.sampled_from(["form", "multipart", "json", "form-as-json", "raw", "empty"]))
    content_type: str | None = None
    data: bytes | dict[str, Any] | None = None
    if kind in {"form", "multipart"}:
        data = draw(form_fields(names, csrf))
        content_type = "multipart/form-data" if kind == "multipart" else None
    elif kind == "json":
        data = json.dumps(draw(st.one_of(JSON_VALUES, form_fields(names, csrf)))).encode()
        content_type = draw(
            st.sampled_from(["application/json", "application/x-www-form-urlencoded"])
        )
    elif kind == "form-as-json":
        fields = draw(form_fields(names, csrf))
        data = "&".join(f"{quote(k)}={quote(str(v))}" for k, v in fields.items()).encode()
        content_type = "application/json"
    elif kind == "raw":
        data = draw(st.one_of(st.sampled_from(INVALID_UTF8), st.binary(max_size=64)))
        content_type = draw(st.sampled_from(CONTENT_TYPES))
    return Malformed(method, query, headers, data, content_type)


def bogus_bearers(world: FuzzWorld, kind: str) -> list[str]:
    """Authorization headers that must not authenticate to `kind` (api or scim): wrong scheme,
    a token of the other kind, one character short or long, never issued, far too long."""
    live = world.tokens[kind]
    other = world.tokens["scim" if kind == "api" else "api"]
    return [
        "Bearer",
        "Bearer ",
        "Basic YWRtaW46YWRtaW4=",
        f"Token {live}",
        f"Bearer {other}",
        f"Bearer {live[:-1]}",
        f"Bearer {live}x",
        f"Bearer {new_token()}",
        "Bearer " + "a" * 5000,
        "Bearer é",
    ]


@st.composite
def scim_bodies(draw: st.DrawFn) -> Any:
    """SCIM-shaped JSON with wrong parts: resources, patch operations and bulk requests."""
    value = draw(JSON_VALUES)
    return draw(
        st.sampled_from(
            [
                value,
                {"schemas": value, "userName": "a@example.org"},
                {"schemas": [USER], "userName": value, "emails": value},
                {"schemas": [USER], "userName": "b@example.org", "active": value, "name": value},
                {"schemas": [PATCH_OP], "Operations": value},
                {
                    "schemas": [PATCH_OP],
                    "Operations": [{"op": value, "path": value, "value": value}],
                },
                {"schemas": [PATCH_OP], "Operations": [{"op": "replace", "value": value}]},
                {
                    "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
                    "Operations": value,
                },
                {
                    "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                    "filter": value,
                },
            ]
        )
    )
