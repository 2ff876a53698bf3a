"""Route templates of HTTP triggers match paths as the Functions host's routing does."""

from __future__ import annotations

import pytest

from devstack.funchost.errors import ConfigError
from devstack.funchost.httproute import RouteTemplate

GUID = "5f0c7a5e-8a51-4c0e-9d1e-0a7c5f0c7a5e"


@pytest.mark.parametrize(
    ("template", "path", "values"),
    [
        ("status", "status", {}),
        ("status", "STATUS/", {}),
        ("status.json", "status.json", {}),
        ("static/{file}", "static/uPlot.min.css", {"file": "uPlot.min.css"}),
        ("static/{file}", "static/a%20b.css", {"file": "a b.css"}),
        ("items/{id:int}", "items/-12", {"id": "-12"}),
        ("items/{id:int:min(5)}", "items/5", {"id": "5"}),
        ("items/{id?}", "items", {}),
        ("items/{id?}", "items/7", {"id": "7"}),
        ("items/{id=7}", "items", {"id": "7"}),
        ("items/{id:int?}", "items", {}),
        ("items/{id:int?}", "items/3", {"id": "3"}),
        ("items/{id:int=4}", "items", {"id": "4"}),
        ("files/{*rest}", "files/a/b/c.csv", {"rest": "a/b/c.csv"}),
        ("files/{**rest}", "files", {}),
        ("{name}.{ext}", "report.2024.csv", {"name": "report.2024", "ext": "csv"}),
        ("c/{code:regex(^[a-z]{{3}}$)}", "c/abc", {"code": "abc"}),
        ("x/{g:guid}", f"x/{GUID}", {"g": GUID}),
        ("flag/{on:bool}", "flag/True", {"on": "True"}),
        ("", "", {}),
    ],
)
def test_a_path_matching_the_template_yields_its_route_values(
    template: str, path: str, values: dict[str, str]
) -> None:
    assert RouteTemplate.parse(template).match(path) == values


@pytest.mark.parametrize(
    ("template", "path"),
    [
        ("status", "status.json"),
        ("status", "status/more"),
        ("static/{file}", "static/a/b.css"),
        ("static/{file}", "static"),
        ("items/{id:int}", "items/x"),
        ("items/{id:int}", "items/99999999999"),
        ("items/{id:long}", "items/1.5"),
        ("items/{id:int:min(5)}", "items/4"),
        ("items/{id:range(1,3)}", "items/4"),
        ("name/{n:alpha}", "name/ab1"),
        ("name/{n:length(2)}", "name/abc"),
        ("c/{code:regex(^[a-z]{{3}}$)}", "c/abcd"),
        ("x/{g:guid}", "x/not-a-guid"),
        ("items/{id:int?}", "items/x"),
    ],
)
def test_a_path_that_does_not_fit_does_not_match(template: str, path: str) -> None:
    assert RouteTemplate.parse(template).match(path) is None


@pytest.mark.parametrize(
    ("template", "why"),
    [
        ("a/{id:nosuch}", "unknown constraint"),
        ("a/{id?}/b", "last segment"),
        ("a/{*rest}/b", "last segment"),
        ("a/{x}/{x}", "twice"),
        ("a//b", "empty segment"),
        ("a/{1x}", "not a parameter name"),
        ("a/{x:min(one)}", "whole numbers"),
    ],
)
def test_a_malformed_template_is_refused_with_the_reason(template: str, why: str) -> None:
    with pytest.raises(ConfigError, match=why):
        RouteTemplate.parse(template)


def test_literal_routes_take_precedence_over_parameters_and_catch_alls_come_last() -> None:
    templates = ["{*rest}", "items/{id}", "items/{id:int}", "items/new", "{name}.{ext}"]
    ordered = sorted(templates, key=lambda t: RouteTemplate.parse(t).precedence)
    assert ordered.index("items/new") < ordered.index("items/{id:int}")
    assert ordered.index("items/{id:int}") < ordered.index("items/{id}")
    assert ordered[-1] == "{*rest}"
