"""Start-up: settings reach the app before import; any failure stops the host with its cause."""

from __future__ import annotations

import signal
from typing import Any

import pytest

from tests.devstack.funchost.conftest import AppFactory, Azurite, HostProcess

NO_FUNCTIONS = """
import os

import azure.functions as func

# The real host puts local.settings.json Values into the environment before importing.
if os.environ.get("GREETING") != "hello":
    raise RuntimeError("GREETING was not set before import")
# ... and runs the app in its own directory.
if not os.path.exists("function_app.py"):
    raise RuntimeError(f"working directory is {os.getcwd()}, not the app's")

app = func.FunctionApp()
"""


def _failure(host: HostProcess) -> dict[str, Any]:
    assert host.wait_exit() == 1
    assert host.stdout == [], "no ready line after a failed start-up"
    (failure,) = host.events("startup_failed")
    return failure


def test_settings_are_in_the_environment_before_the_app_is_imported(apps: AppFactory) -> None:
    app = apps.write(NO_FUNCTIONS, {"GREETING": "hello"})

    host = apps.start(app)

    assert host.ready_line() == {"event": "ready", "service": "functions", "functions": []}
    assert host.stop() == 0


def test_what_the_app_prints_goes_to_the_log_and_stdout_keeps_only_the_ready_line(
    apps: AppFactory,
) -> None:
    app = apps.write('print("hello from import")\n' + NO_FUNCTIONS, {"GREETING": "hello"})

    host = apps.start(app)
    host.ready_line()
    assert host.stop() == 0

    assert len(host.stdout) == 1
    assert any(e.get("message") == "hello from import" for e in host.logs)


def test_a_failing_import_stops_start_up_naming_the_cause(apps: AppFactory) -> None:
    app = apps.write("import module_that_does_not_exist\n", {})

    failure = _failure(apps.start(app))

    assert "ModuleNotFoundError" in failure["cause"]
    assert "module_that_does_not_exist" in failure["cause"]
    assert failure["error_type"] == "AppLoadError"


def test_an_app_without_a_function_app_instance_is_refused(apps: AppFactory) -> None:
    app = apps.write("VALUE = 1\n", {})

    failure = _failure(apps.start(app))

    assert "no azure.functions.FunctionApp" in failure["cause"]


def test_a_missing_schedule_setting_stops_start_up_naming_it(apps: AppFactory) -> None:
    app = apps.write(
        """
        import azure.functions as func

        app = func.FunctionApp()

        @app.timer_trigger(arg_name="timer", schedule="%MISSING_SCHEDULE%")
        def tick(timer: func.TimerRequest) -> None:
            pass
        """,
        {"AzureWebJobsStorage": "UseDevelopmentStorage=true"},
    )

    failure = _failure(apps.start(app))

    assert "'MISSING_SCHEDULE'" in failure["cause"]
    assert "tick" in failure["cause"]
    assert failure["error_type"] == "SettingMissingError"


def test_a_missing_storage_connection_stops_start_up_naming_it(apps: AppFactory) -> None:
    app = apps.write(
        """
        import azure.functions as func

        app = func.FunctionApp()

        @app.blob_trigger(arg_name="blob", path="incoming/{name}", connection="DropStorage")
        def on_blob(blob: func.InputStream) -> None:
            pass
        """,
        {},
    )

    failure = _failure(apps.start(app))

    assert "'DropStorage'" in failure["cause"]


def test_an_invalid_schedule_stops_start_up(apps: AppFactory) -> None:
    app = apps.write(
        """
        import azure.functions as func

        app = func.FunctionApp()

        @app.timer_trigger(arg_name="timer", schedule="0 */5 * * *")
        def tick(timer: func.TimerRequest) -> None:
            pass
        """,
        {"AzureWebJobsStorage": "UseDevelopmentStorage=true"},
    )

    failure = _failure(apps.start(app))

    assert "expected 6 fields" in failure["cause"]


def test_an_invalid_host_json_stops_start_up(apps: AppFactory) -> None:
    app = apps.write(
        NO_FUNCTIONS, {"GREETING": "hello"}, {"version": "2.0", "functionTimeout": "five minutes"}
    )

    failure = _failure(apps.start(app))

    assert "functionTimeout" in failure["cause"]


@pytest.mark.stack
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_stop_signal_lets_the_running_invocation_finish_then_exits_zero(
    apps: AppFactory, azurite: Azurite, sig: signal.Signals
) -> None:
    app = apps.write(
        """
        import os
        import pathlib
        import time

        import azure.functions as func

        app = func.FunctionApp()

        @app.timer_trigger(arg_name="timer", schedule="0 0 0 1 1 *", run_on_startup=True)
        def long_run(timer: func.TimerRequest) -> None:
            time.sleep(2)
            pathlib.Path(os.environ["FUNCHOST_TEST_RECORD"]).write_text('{"done": true}')
        """,
        {"AzureWebJobsStorage": azurite.connection_string},
    )
    host = apps.start(app)
    host.ready_line()
    host.wait_for_events("invocation_started", function="long_run")

    assert host.stop(sig=sig) == 0

    assert app.records() == [{"done": True}]
    (run,) = host.events("invocation", function="long_run")
    assert run["outcome"] == "succeeded"
    assert host.events("host_stopped")[0]["drained"] is True


@pytest.mark.stack
def test_an_invocation_past_the_function_timeout_counts_as_timed_out(
    apps: AppFactory, azurite: Azurite
) -> None:
    app = apps.write(
        """
        import time

        import azure.functions as func

        app = func.FunctionApp()

        @app.timer_trigger(arg_name="timer", schedule="0 0 0 1 1 *", run_on_startup=True)
        def stuck(timer: func.TimerRequest) -> None:
            time.sleep(30)
        """,
        {"AzureWebJobsStorage": azurite.connection_string},
        {"version": "2.0", "functionTimeout": "00:00:01"},
    )
    host = apps.start(app)
    host.ready_line()

    (run,) = host.wait_for_events("invocation", function="stuck")

    assert run["outcome"] == "timed_out"
    assert host.stop() == 0


@pytest.mark.stack
def test_host_json_functions_list_selects_the_functions_served(
    apps: AppFactory, azurite: Azurite
) -> None:
    app = apps.write(
        """
        import azure.functions as func

        app = func.FunctionApp()

        @app.timer_trigger(arg_name="timer", schedule="0 0 0 1 1 *")
        def wanted(timer: func.TimerRequest) -> None:
            pass

        @app.timer_trigger(arg_name="timer", schedule="0 0 0 1 1 *")
        def unwanted(timer: func.TimerRequest) -> None:
            pass
        """,
        {"AzureWebJobsStorage": azurite.connection_string},
        {"version": "2.0", "functions": ["wanted"]},
    )

    host = apps.start(app)

    assert host.ready_line()["functions"] == ["wanted"]
    assert host.stop() == 0
