"""The function catalog: what ``function_app`` declares, read through azure-functions.

The app is imported the way the Python worker does it (the app directory on
``sys.path``, module ``function_app`` or ``PYTHON_SCRIPT_FILE_NAME``); its one
module-level ``FunctionApp`` is read only through the library's own objects:
``get_functions()``, ``get_function_name()``, ``get_trigger()`` and
``get_bindings_dict()``.
"""

from __future__ import annotations

import datetime as dt
import enum
import importlib
import inspect
import logging
import sys
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from azure.functions.decorators.function_app import FunctionRegister

from devstack.funchost.appsettings import AppSettings
from devstack.funchost.blobpath import BlobPathPattern
from devstack.funchost.errors import AppLoadError, ConfigError, StartupError
from devstack.funchost.httpfunctions import HTTP_TRIGGER, HttpFunction, http_function
from devstack.funchost.schedule import Schedule as ScheduleType
from devstack.funchost.schedule import monitored_by_default, parse_schedule
from devstack.funchost.sdkbinding import is_sdk_type
from devstack.funchost.storage import IdentityConnection

log = logging.getLogger(__name__)

DEFAULT_SCRIPT = "function_app.py"
BLOB_TRIGGER = "blobTrigger"
TIMER_TRIGGER = "timerTrigger"


class ArgumentKind(enum.StrEnum):
    """How a blob reaches the function: a lazy stream, or content read up front."""

    STREAM = "stream"
    BYTES = "bytes"
    TEXT = "str"
    SDK = "sdk"  # an SDK client for the blob (deferred binding): no content at all


@dataclass(frozen=True)
class BlobFunction:
    """A blob-triggered function, its container pattern and storage connection."""

    name: str
    argument: str
    path: BlobPathPattern
    connection_string: str | IdentityConnection
    argument_kind: ArgumentKind
    call: Callable[..., Any]
    wants_context: bool
    connection: str = "AzureWebJobsStorage"  # the setting's name, for SDK-type bindings
    sdk_type: type | None = None
    event_grid: bool = False  # source EventGrid: events delivered to the blobs webhook

    @property
    def function_id(self) -> str:
        # The id the real host writes into receipts and queue messages.
        return f"Host.Functions.{self.name}"


@dataclass(frozen=True)
class TimerFunction:
    """A timer-triggered function and its schedule."""

    name: str
    argument: str
    schedule: ScheduleType
    schedule_text: str
    run_on_startup: bool
    use_monitor: bool
    call: Callable[..., Any]
    wants_context: bool

    @property
    def function_id(self) -> str:
        return f"Host.Functions.{self.name}"


TriggeredFunction = BlobFunction | TimerFunction


@dataclass(frozen=True)
class Catalog:
    """Every function the host serves, by trigger kind."""

    blob_functions: tuple[BlobFunction, ...]
    timer_functions: tuple[TimerFunction, ...]
    http_functions: tuple[HttpFunction, ...] = ()

    @property
    def names(self) -> list[str]:
        functions: list[TriggeredFunction | HttpFunction] = [
            *self.blob_functions,
            *self.timer_functions,
            *self.http_functions,
        ]
        return [f.name for f in functions]


def import_app(app_dir: Path, settings: AppSettings) -> FunctionRegister:
    """Import the app's script and return its single FunctionApp instance."""
    runtime = settings.get("FUNCTIONS_WORKER_RUNTIME")
    if runtime is not None and runtime.lower() != "python":
        log.warning("FUNCTIONS_WORKER_RUNTIME is %r; this host runs Python apps only", runtime)
    script = settings.get("PYTHON_SCRIPT_FILE_NAME") or DEFAULT_SCRIPT
    if not (app_dir / script).is_file():
        raise AppLoadError(f"{script} not found in {app_dir}")
    module_name = Path(script).stem
    # Like the Python worker: the app root, then packages deployed with the app.
    for path in (app_dir / ".python_packages" / "lib" / "site-packages", app_dir):
        if path.is_dir() and str(path) not in sys.path:
            sys.path.insert(0, str(path))
    try:
        module = importlib.import_module(module_name)
    except BaseException as e:  # the app may raise anything, SystemExit included
        raise AppLoadError(
            f"importing {script} from {app_dir} failed: {type(e).__name__}: {e}"
        ) from e
    return _single_app(module, script)


def _single_app(module: ModuleType, script: str) -> FunctionRegister:
    apps = [v for v in vars(module).values() if isinstance(v, FunctionRegister)]
    if not apps:
        raise AppLoadError(f"{script} defines no azure.functions.FunctionApp instance")
    if len(apps) > 1:
        raise AppLoadError(f"{script} defines {len(apps)} FunctionApp instances; one is allowed")
    return apps[0]


def build_catalog(
    app: FunctionRegister,
    settings: AppSettings,
    now: dt.datetime,
    selected: Collection[str] | None = None,
) -> Catalog:
    """Resolve every function's trigger against the app settings; fail on a missing one.

    ``selected`` is host.json's ``functions`` list: when given, only those functions run.
    """
    try:
        functions = app.get_functions()
    except Exception as e:
        raise AppLoadError(f"the FunctionApp could not list its functions: {e}") from e
    blobs: list[BlobFunction] = []
    timers: list[TimerFunction] = []
    https: list[HttpFunction] = []
    for function in functions:
        name = function.get_function_name() or function.get_user_function().__name__
        if selected is not None and name not in selected:
            log.info("function %s is not in host.json's functions list", name)
            continue
        if settings.is_disabled(name):
            log.info("function %s is disabled by its AzureWebJobs.%s.Disabled setting", name, name)
            continue
        trigger = function.get_trigger()
        bindings = function.get_bindings_dict().get("bindings", [])
        trigger_type = trigger.get_binding_name() if trigger is not None else None
        others = [b for b in bindings if b.get("type") != trigger_type]
        if trigger_type == HTTP_TRIGGER:
            (binding,) = [b for b in bindings if b.get("type") == trigger_type]
            call = function.get_user_function()
            served = http_function(name, binding, others, call, _wants_context(call))
            if served is not None:
                https.append(served)
                continue
        if trigger_type not in (BLOB_TRIGGER, TIMER_TRIGGER) or others:
            log.warning(
                "function %s is not served: this host runs blob, timer and HTTP triggers "
                "without extra bindings (trigger %s, bindings %s)",
                name,
                trigger_type,
                [b.get("type") for b in bindings],
            )
            continue
        (binding,) = [b for b in bindings if b.get("type") == trigger_type]
        call = function.get_user_function()
        if trigger_type == BLOB_TRIGGER:
            blobs.append(_blob_function(name, binding, call, settings))
        else:
            timers.append(_timer_function(name, binding, call, settings, now))
    return Catalog(tuple(blobs), tuple(timers), tuple(https))


def _blob_function(
    name: str, binding: Mapping[str, Any], call: Callable[..., Any], settings: AppSettings
) -> BlobFunction:
    needed_by = f"blob trigger of function {name}"
    event_grid = str(binding.get("source") or "").lower() == "eventgrid"
    path = settings.resolve(str(binding.get("path") or ""), needed_by)
    connection = settings.resolve(str(binding.get("connection") or ""), needed_by)
    argument = str(binding["name"])
    return BlobFunction(
        name=name,
        argument=argument,
        path=BlobPathPattern.parse(path),
        connection_string=settings.connection_string(connection, needed_by),
        argument_kind=_argument_kind(call, argument),
        call=call,
        wants_context=_wants_context(call),
        connection=connection,
        sdk_type=_sdk_type(call, argument),
        event_grid=event_grid,
    )


def _timer_function(
    name: str,
    binding: Mapping[str, Any],
    call: Callable[..., Any],
    settings: AppSettings,
    now: dt.datetime,
) -> TimerFunction:
    needed_by = f"timer trigger of function {name}"
    text = settings.resolve(str(binding.get("schedule") or ""), needed_by)
    try:
        schedule = parse_schedule(text)
    except ConfigError as e:
        raise StartupError(f"function {name}: {e}") from e
    use_monitor = binding.get("useMonitor")
    return TimerFunction(
        name=name,
        argument=str(binding["name"]),
        schedule=schedule,
        schedule_text=text,
        run_on_startup=bool(binding.get("runOnStartup", False)),
        use_monitor=(
            monitored_by_default(schedule, now) if use_monitor is None else bool(use_monitor)
        ),
        call=call,
        wants_context=_wants_context(call),
    )


def _parameters(call: Callable[..., Any]) -> Mapping[str, inspect.Parameter]:
    try:
        return inspect.signature(call, eval_str=True).parameters
    except (NameError, TypeError, ValueError):
        return inspect.signature(call).parameters


def _sdk_type(call: Callable[..., Any], argument: str) -> type | None:
    parameter = _parameters(call).get(argument)
    annotation = parameter.annotation if parameter is not None else None
    return annotation if isinstance(annotation, type) and is_sdk_type(annotation) else None


def _argument_kind(call: Callable[..., Any], argument: str) -> ArgumentKind:
    parameter = _parameters(call).get(argument)
    annotation = parameter.annotation if parameter is not None else None
    if is_sdk_type(annotation):
        return ArgumentKind.SDK
    if annotation in (bytes, "bytes"):
        return ArgumentKind.BYTES
    if annotation in (str, "str"):
        return ArgumentKind.TEXT
    return ArgumentKind.STREAM


def _wants_context(call: Callable[..., Any]) -> bool:
    return "context" in _parameters(call)
