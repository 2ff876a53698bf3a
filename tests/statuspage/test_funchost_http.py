"""The local Functions host serves HTTP triggers as the real host does: routes under
/api/, function keys from ?code= or x-functions-key, 401 without one, 404 for what no route
takes, 500 when the function fails; the function gets an azure.functions.HttpRequest."""

from __future__ import annotations

import json
import stat
import urllib.request
from pathlib import Path
from typing import Any

from tests.devstack.funchost.conftest import AppFactory, FunctionApp, HostProcess
from tests.statuspage.conftest import Answer, get, send

APP = """
import json

import azure.functions as func

app = func.FunctionApp()


@app.route(route="echo/{name}/{n:int?}", methods=["GET", "POST"])
def echo(req: func.HttpRequest) -> func.HttpResponse:
    body = {
        "is_http_request": isinstance(req, func.HttpRequest),
        "method": req.method,
        "route": dict(req.route_params),
        "params": dict(req.params),
        "body": req.get_body().decode(),
        "header": req.headers.get("x-test"),
    }
    return func.HttpResponse(
        json.dumps(body), status_code=201, mimetype="application/json",
        headers={"X-Echo": "yes"},
    )


@app.route(route="open", auth_level=func.AuthLevel.ANONYMOUS)
def open_door(req: func.HttpRequest) -> str:
    return "open to all"


@app.route(route="admin-only", auth_level=func.AuthLevel.ADMIN)
def admin_only(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("admin")


@app.route(route="fails", auth_level=func.AuthLevel.ANONYMOUS)
def fails(req: func.HttpRequest) -> func.HttpResponse:
    raise RuntimeError("this function always fails")


@app.function_name("defaulted")
@app.route(auth_level=func.AuthLevel.ANONYMOUS)
def defaulted_route(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("named after the function")
"""


class Http:
    def __init__(self, host: HostProcess, app: FunctionApp) -> None:
        self.host = host
        self.url = str(host.ready_line()["http"])
        self.keys = json.loads((app.directory / "function-keys.json").read_text())

    @property
    def function_key(self) -> str:
        return str(self.keys["functionKeys"][0]["value"])

    @property
    def master_key(self) -> str:
        return str(self.keys["masterKey"]["value"])

    def get(self, path: str, headers: dict[str, str] | None = None) -> Answer:
        return get(self.url + path, headers)


def start(apps: AppFactory, host_json: dict[str, Any] | None = None) -> Http:
    app = apps.write(APP, {}, host_json)
    return Http(apps.start(app, "--http-port", "0"), app)


def test_a_function_key_in_the_code_parameter_or_the_header_opens_a_function_level_route(
    apps: AppFactory,
) -> None:
    http = start(apps)

    by_code = http.get(f"/api/echo/bob/3?code={http.function_key}&x=1", {"x-test": "here"})
    by_header = http.get("/api/echo/ann", {"x-functions-key": http.function_key})
    by_master = http.get(f"/api/echo/cy?code={http.master_key}")

    assert by_code.status == 201
    assert by_code.headers["X-Echo"] == "yes"
    assert by_code.headers["Content-Type"].startswith("application/json")
    echoed = by_code.json()
    assert echoed["is_http_request"] is True
    assert echoed["method"] == "GET"
    assert echoed["route"] == {"name": "bob", "n": "3"}
    assert echoed["params"]["x"] == "1"
    assert echoed["header"] == "here"
    assert by_header.status == 201 and by_header.json()["route"] == {"name": "ann"}
    assert by_master.status == 201


def test_no_key_or_a_wrong_key_gets_401(apps: AppFactory) -> None:
    http = start(apps)

    assert http.get("/api/echo/bob").status == 401
    assert http.get("/api/echo/bob?code=not-the-key").status == 401
    assert http.get("/api/echo/bob", {"x-functions-key": "nope"}).status == 401
    assert http.get(f"/api/admin-only?code={http.function_key}").status == 401
    assert http.get(f"/api/admin-only?code={http.master_key}").status == 200


def test_anonymous_routes_need_no_key_and_the_route_defaults_to_the_function_name(
    apps: AppFactory,
) -> None:
    http = start(apps)

    opened = http.get("/api/open")
    named = http.get("/api/defaulted")

    assert (opened.status, opened.body) == (200, b"open to all")
    assert opened.headers["Content-Type"].startswith("text/plain")
    assert (named.status, named.body) == (200, b"named after the function")


def test_what_no_route_takes_is_404_and_a_failing_function_answers_500(
    apps: AppFactory,
) -> None:
    http = start(apps)

    assert http.get("/api/nothing-here").status == 404
    assert http.get("/open").status == 404  # outside the route prefix
    assert http.get(f"/api/echo/bob/not-an-int?code={http.function_key}").status == 404
    failed = http.get("/api/fails")

    assert (failed.status, failed.body) == (500, b"")
    invocations = http.host.wait_for_events("invocation", function="fails")
    assert invocations[0]["outcome"] == "failed"


def test_the_route_prefix_comes_from_host_json(apps: AppFactory) -> None:
    http = start(apps, {"version": "2.0", "extensions": {"http": {"routePrefix": ""}}})

    assert http.get("/open").status == 200
    assert http.get("/api/open").status == 404


def test_the_keys_file_is_made_private_on_first_start_and_kept_after(
    apps: AppFactory, tmp_path: Path
) -> None:
    app = apps.write(APP, {})
    keys = tmp_path / "keys" / "function-keys.json"
    first = apps.start(app, "--http-port", "0", "--keys", str(keys))
    first.ready_line()
    made = keys.read_text()
    assert first.stop() == 0

    second = apps.start(app, "--http-port", "0", "--keys", str(keys))
    url = second.ready_line()["http"]
    key = json.loads(made)["functionKeys"][0]["value"]

    assert stat.S_IMODE(keys.stat().st_mode) == 0o600
    assert keys.read_text() == made
    assert get(f"{url}/api/echo/x?code={key}").status == 201


def test_the_request_log_never_carries_the_key(apps: AppFactory) -> None:
    http = start(apps)

    http.get(f"/api/echo/bob?code={http.function_key}")
    http.host.wait_for_events("http_request", status=201)

    assert all(http.function_key not in line for line in http.host.raw_stderr)


def test_a_posted_body_reaches_the_function_and_a_method_the_route_does_not_take_is_404(
    apps: AppFactory,
) -> None:
    http = start(apps)
    url = f"{http.url}/api/echo/bob?code={http.function_key}"

    posted = send(urllib.request.Request(url, data=b"x", method="POST"))
    deleted = send(urllib.request.Request(url, method="DELETE"))

    assert posted.status == 201 and posted.json()["body"] == "x"
    assert deleted.status == 404
