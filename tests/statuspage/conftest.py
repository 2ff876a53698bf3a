"""Fixtures for the status page: the whole local stack (Functions host included, serving the
HTTP triggers), runs written straight into its ledger, plain HTTP calls, and Chromium."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from batch_core.clock import utcnow
from batch_core.keys import file_key
from batch_core.pipeline import Pipeline
from batch_core.run import Run
from batch_core.settings import Settings
from batch_core.states import RunState
from devstack.stack import Stack
from tests.devstack.funchost.conftest import apps, azurite
from tests.e2e.conftest import live_stack

__all__ = ["apps", "azurite", "live_stack"]

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def get(url: str, headers: dict[str, str] | None = None) -> Answer:
    """GET over real HTTP; an error status is an answer too."""
    return send(urllib.request.Request(url, headers=headers or {}))


def send(request: urllib.request.Request) -> Answer:
    """Any request over real HTTP; an error status is an answer too."""
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return Answer(response.status, dict(response.headers.items()), response.read())
    except urllib.error.HTTPError as e:
        with e:
            return Answer(e.code, dict(e.headers.items()), e.read())


@dataclass
class Site:
    """The live stack's function app as an operator reaches it."""

    stack: Stack
    pipeline: Pipeline
    url: str
    key: str
    prefix: str = field(default_factory=lambda: f"sp-{uuid.uuid4().hex[:8]}")

    def get(
        self, path: str, key: bool = True, params: Mapping[str, str] | None = None, **more: str
    ) -> Answer:
        query = {**(params or {}), **more, **({"code": self.key} if key else {})}
        encoded = urllib.parse.urlencode(query)
        return get(f"{self.url}/api/{path}" + (f"?{encoded}" if encoded else ""))

    def write_run(
        self,
        name: str,
        state: RunState,
        reason: str = "",
        route: str = "csv",
        updated_at: dt.datetime | None = None,
        attempt: int = 1,
    ) -> Run:
        """A run written straight into the ledger (under this site's name prefix)."""
        now = updated_at or utcnow()
        s = self.pipeline.settings
        full = f"{self.prefix}/{name}"
        etag = uuid.uuid4().hex
        run = Run(
            key=file_key(s.storage_account, s.container_incoming, full, etag),
            container=s.container_incoming,
            name=full,
            etag=etag,
            size=10,
            route=route,
            state=state,
            reason=reason or state.value,
            created_at=now - dt.timedelta(seconds=30),
            updated_at=now,
            attempt=attempt,
        )
        stored, created = self.pipeline.ledger.create(run)
        assert created
        return stored


@pytest.fixture
def site(live_stack: Stack) -> Site:
    url = live_stack.functions_url
    assert url is not None, "the Functions host serves no HTTP triggers"
    p = Pipeline.build(Settings.from_env(live_stack.values))
    return Site(live_stack, p, url, live_stack.function_key)


@pytest.fixture(scope="session")
def chromium_path() -> Path:
    found = CHROMIUM if CHROMIUM.exists() else None
    which = shutil.which("chromium")
    if found is None and which:
        found = Path(which)
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is not installed: apt-get install -y chromium")
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    return found


@pytest.fixture(scope="session")
def browser(chromium_path: Path) -> Iterator[Any]:
    """Debian's Chromium driven by Playwright (no browser download)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip("playwright is not installed (pip install -e '.[dev]')")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(chromium_path), args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
