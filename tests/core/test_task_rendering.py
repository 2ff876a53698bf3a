"""The Batch task every example route renders, checked against the Batch REST description's
request schema (vendored), with unknown properties refused: what dropbatch would send is a
valid TaskAdd body. Rendered on the in-memory twins: no server needed."""

from __future__ import annotations

import copy
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from batch_core.keys import file_key
from batch_core.routebook import Route, Routebook, load_routes, parse_routes
from batch_core.run import Run
from batch_core.states import RunState
from batch_core.submission import task_for
from batch_core.testing import memory_pipeline

ROOT = Path(__file__).resolve().parents[2]
SWAGGER = ROOT / "tests" / "data" / "batch-rest-api" / "BatchService.json"
DOC_BLOCK = re.compile(r"```toml\n(.*?)```", re.S)


@cache
def _strict_definitions() -> dict[str, Any]:
    """The swagger's definitions with every object closed to properties it does not name."""
    definitions = copy.deepcopy(json.loads(SWAGGER.read_text())["definitions"])
    for schema in definitions.values():
        if "properties" in schema and "allOf" not in schema:
            schema.setdefault("additionalProperties", False)
    return dict(definitions)


def validate_task(body: dict[str, Any]) -> None:
    schema = {"$ref": "#/definitions/BatchTaskCreateOptions", "definitions": _strict_definitions()}
    jsonschema.Draft4Validator(schema).validate(body)


def books() -> list[tuple[str, Routebook]]:
    found = [("examples/routes.toml", load_routes(ROOT / "examples" / "routes.toml"))]
    text = (ROOT / "docs" / "ROUTES.md").read_text(encoding="utf-8")
    for i, block in enumerate(DOC_BLOCK.findall(text)):
        found.append((f"docs/ROUTES.md block {i + 1}", parse_routes(block, f"block {i + 1}")))
    return found


def routes() -> list[tuple[str, Routebook, Route]]:
    return [
        (f"{where}: {r.name}", book, r)
        for where, book in books()
        for r in book.routes
        if r.fanout is None  # fan-out members are planned on a node
    ]


def sample_name(route: Route) -> str:
    """A blob name the route's first glob matches."""
    glob = route.match[0]
    return glob.replace("**", "in").replace("*", "sample").replace("?", "x")


@pytest.mark.parametrize(
    ("book", "route"), [(b, r) for _, b, r in routes()], ids=[i for i, _, _ in routes()]
)
def test_every_example_route_renders_a_valid_batch_task(book: Routebook, route: Route) -> None:
    p = memory_pipeline(routes=book)
    p.blobs.containers.setdefault(p.settings.container_config, {})
    for spec in route.task.resource_files if route.task else []:
        source = spec.source
        if source.startswith("config:"):  # the assets the route names, pushed
            path = source.removeprefix("config:")
            p.blobs.put(
                p.settings.container_config, path + ("main.py" if path.endswith("/") else ""), b"x"
            )
    name = sample_name(route)
    assert book.match(name) is route, name
    blob = p.blobs.put(p.settings.container_incoming, name, b"data")
    key = file_key(p.blobs.account, blob.container, name, blob.etag)
    now = p.clock.now()
    run = Run(
        key=key, container=blob.container, name=name, etag=blob.etag, size=4, route=route.name,
        state=RunState.SUBMITTED, reason="", created_at=now, updated_at=now, attempt=1,
    )  # fmt: skip

    task = task_for(p, run, 1)
    body = task.as_dict()

    validate_task(body)
    assert body["id"] and body["commandLine"]
    logs = [
        o for o in body["outputFiles"] if o["filePattern"] in ("../stdout.txt", "../stderr.txt")
    ]
    assert len(logs) == 2
    text = json.dumps(body)
    assert "sig=" not in text and "AccountKey" not in text  # no SAS, no key


def test_the_check_refuses_a_property_batch_does_not_know() -> None:
    with pytest.raises(jsonschema.ValidationError):
        validate_task({"id": "t", "commandLine": "true", "commandLines": "typo"})
