"""Schedules, host.json, local.settings.json, blob paths and log levels, read as the host does."""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path

import pytest

from devstack.funchost.appsettings import AppSettings, LocalSettingsFile
from devstack.funchost.blobpath import BlobPathPattern
from devstack.funchost.errors import ConfigError, ScheduleError, SettingMissingError
from devstack.funchost.hostconfig import HostConfig
from devstack.funchost.logs import CategoryFilter
from devstack.funchost.ncrontab import CronExpression
from devstack.funchost.schedule import IntervalSchedule, monitored_by_default, parse_schedule
from devstack.funchost.schedulemonitor import ScheduleStatus
from devstack.funchost.storage import MessageCodec, normalize_etag, validate_host_id

NOW = dt.datetime(2026, 1, 1, 12, 0, 0, tzinfo=dt.UTC)


def test_a_schedule_with_spaces_is_ncrontab_and_one_with_colons_a_timespan() -> None:
    assert isinstance(parse_schedule("0 */5 * * * *"), CronExpression)
    interval = parse_schedule("00:00:30")
    assert isinstance(interval, IntervalSchedule)
    assert interval.next_after(NOW) == NOW + dt.timedelta(seconds=30)


def test_timespans_accept_days_and_hours_minutes() -> None:
    assert IntervalSchedule.parse("1.02:00:00").interval == dt.timedelta(days=1, hours=2)
    assert IntervalSchedule.parse("01:30").interval == dt.timedelta(hours=1, minutes=30)


@pytest.mark.parametrize("text", ["00:00:00", "25:00:00", "soon", ""])
def test_bad_timespans_and_empty_schedules_are_refused(text: str) -> None:
    with pytest.raises(ScheduleError):
        parse_schedule(text)


def test_only_schedules_a_minute_or_more_apart_are_monitored_by_default() -> None:
    assert monitored_by_default(parse_schedule("0 */5 * * * *"), NOW)
    assert not monitored_by_default(parse_schedule("*/10 * * * * *"), NOW)
    assert not monitored_by_default(parse_schedule("00:00:30"), NOW)


def test_host_json_defaults() -> None:
    config = HostConfig.from_document({"version": "2.0"})

    assert config.function_timeout == dt.timedelta(minutes=5)
    assert config.max_dequeue_count == 5
    assert config.max_degree_of_parallelism >= 8
    assert config.base64_queue_messages is True


def test_host_json_settings_are_honoured_and_unknown_keys_ignored() -> None:
    config = HostConfig.from_document(
        {
            "version": "2.0",
            "functionTimeout": "00:10:00",
            "logging": {"logLevel": {"default": "Warning", "Function.tick": "Debug"}},
            "extensions": {
                "blobs": {"maxDegreeOfParallelism": 2, "poisonBlobThreshold": 3},
                "queues": {"messageEncoding": "none"},
                "somethingElse": {"x": 1},
            },
            "aggregator": {"batchSize": 10},
        }
    )

    assert config.function_timeout == dt.timedelta(minutes=10)
    assert config.max_degree_of_parallelism == 2
    assert config.max_dequeue_count == 3
    assert config.base64_queue_messages is False
    assert config.log_levels == {"default": "Warning", "Function.tick": "Debug"}


def test_the_functions_list_selects_functions_and_empty_means_all() -> None:
    assert HostConfig.from_document({"functions": ["tick"]}).functions == ("tick",)
    assert HostConfig.from_document({"functions": []}).functions is None
    with pytest.raises(ConfigError):
        HostConfig.from_document({"functions": "tick"})


def test_max_dequeue_count_is_read_under_its_option_name_too() -> None:
    config = HostConfig.from_document({"extensions": {"blobs": {"maxDequeueCount": 2}}})

    assert config.max_dequeue_count == 2


def test_a_function_timeout_of_minus_one_means_no_limit() -> None:
    assert HostConfig.from_document({"functionTimeout": "-1"}).function_timeout is None


@pytest.mark.parametrize(
    "document",
    [
        {"functionTimeout": "5 minutes"},
        {"extensions": {"blobs": {"maxDegreeOfParallelism": 0}}},
        {"extensions": {"blobs": {"poisonBlobThreshold": "many"}}},
        {"extensions": {"queues": {"messageEncoding": "utf7"}}},
        {"logging": "verbose"},
    ],
)
def test_host_json_values_the_host_cannot_use_are_refused(document: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        HostConfig.from_document(document)


def test_settings_file_values_do_not_override_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "local.settings.json"
    path.write_text(
        json.dumps(
            {"IsEncrypted": False, "Values": {"A": "from file", "B": "from file", "C": True}}
        )
    )
    environ = {"A": "from environment"}

    LocalSettingsFile.read(path, required=True).apply(environ)

    assert environ == {"A": "from environment", "B": "from file", "C": "true"}


def test_a_missing_settings_file_is_an_error_only_when_named(tmp_path: Path) -> None:
    assert LocalSettingsFile.read(tmp_path / "absent.json", required=False).values == {}
    with pytest.raises(ConfigError, match="does not exist"):
        LocalSettingsFile.read(tmp_path / "absent.json", required=True)


def test_an_encrypted_settings_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "local.settings.json"
    path.write_text(json.dumps({"IsEncrypted": True, "Values": {}}))

    with pytest.raises(ConfigError, match="encrypted"):
        LocalSettingsFile.read(path, required=True)


def test_binding_expressions_resolve_from_settings_and_name_what_is_missing() -> None:
    settings = AppSettings({"SCHEDULE": "0 * * * * *"})

    assert settings.resolve("%SCHEDULE%", "tick") == "0 * * * * *"
    with pytest.raises(SettingMissingError) as caught:
        settings.resolve("%OTHER%", "timer trigger of function tick")
    assert caught.value.name == "OTHER"
    assert "timer trigger of function tick" in str(caught.value)


def test_a_connection_name_is_tried_plain_then_with_the_azurewebjobs_prefix() -> None:
    settings = AppSettings({"AzureWebJobsDrops": "conn-1", "AzureWebJobsStorage": "conn-2"})

    assert settings.connection_string("Drops", "f") == "conn-1"
    assert settings.connection_string("", "f") == "conn-2"
    with pytest.raises(SettingMissingError):
        settings.connection_string("Absent", "f")


def test_a_function_is_disabled_by_its_setting() -> None:
    assert AppSettings({"AzureWebJobs.tick.Disabled": "true"}).is_disabled("tick")
    assert not AppSettings({}).is_disabled("tick")


def test_a_blob_path_names_the_container_a_prefix_and_binds_names() -> None:
    pattern = BlobPathPattern.parse("incoming/{name}")

    assert (pattern.container, pattern.prefix) == ("incoming", "")
    assert pattern.match("dir/file.csv") == {"name": "dir/file.csv"}


def test_a_blob_path_with_literals_matches_only_its_blobs() -> None:
    pattern = BlobPathPattern.parse("drops/in/{folder}/{name}.csv")

    assert pattern.prefix == "in/"
    assert pattern.match("in/a/b/c.csv") == {"folder": "a", "name": "b/c"}
    assert pattern.match("in/a/c.txt") is None
    assert pattern.match("out/a/c.csv") is None


def test_a_blob_path_needs_a_container() -> None:
    with pytest.raises(ConfigError):
        BlobPathPattern.parse("{name}")


def test_host_ids_follow_the_real_hosts_rule() -> None:
    assert validate_host_id("my-host-1") == "my-host-1"
    for bad in ("", "My-Host", "a--b", "-a", "a-", "x" * 33, "a_b"):
        with pytest.raises(ConfigError):
            validate_host_id(bad)


def test_etags_are_quoted_and_queue_messages_base64_encoded_both_ways() -> None:
    assert normalize_etag("0x1") == normalize_etag('"0x1"') == '"0x1"'
    codec = MessageCodec(base64_encoded=True)
    assert codec.encode('{"a":1}') == "eyJhIjoxfQ=="
    assert codec.decode("eyJhIjoxfQ==") == codec.decode('{"a":1}') == '{"a":1}'


def test_a_schedule_status_round_trips_and_reads_the_real_hosts_format() -> None:
    status = ScheduleStatus(NOW, NOW + dt.timedelta(minutes=5), NOW)

    assert ScheduleStatus.from_document(status.to_document()) == status
    written_by_dotnet = {
        "Last": "0001-01-01T00:00:00",
        "Next": "2026-01-01T12:05:00.0001234Z",
        "LastUpdated": "2026-01-01T12:00:00.1234567+00:00",
    }
    read = ScheduleStatus.from_document(written_by_dotnet)
    assert read.last is None
    assert read.next == dt.datetime(2026, 1, 1, 12, 5, 0, 123, tzinfo=dt.UTC)


def test_log_levels_apply_by_the_longest_matching_category() -> None:
    levels = CategoryFilter(
        {
            "default": "Warning",
            "Function": "Information",
            "Function.tick.User": "None",
            "Host": "Error",
        }
    )

    assert levels.threshold("Host.General") == logging.ERROR
    assert levels.threshold("Function.other") == logging.INFO
    assert levels.threshold("Function.tick.User") > logging.CRITICAL
    assert levels.threshold("Something") == logging.WARNING
