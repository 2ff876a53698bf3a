"""Options of the built-in programs (`csv = {…}` and `zip = {…}` on a route), mirroring the
worker's settings. An option left out takes the app's `DROPBATCH_WORKER_*` setting, then the
worker's own default; a route's options reach its tasks under the worker's one name for each
(`worker.contract`)."""

from __future__ import annotations

import codecs
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import AfterValidator, Field, ValidationError

from batch_core.errors import SettingError
from batch_core.routebook.values import Model
from worker import contract as ws

Count = Annotated[int, Field(ge=1)]
Column = Annotated[str, Field(min_length=1)]


def _encoding(value: str) -> str:
    try:
        codecs.lookup(value)
    except LookupError:
        raise ValueError("not an encoding Python knows (e.g. utf-8, latin-1, cp1252)") from None
    return value


def _delimiter(value: str) -> str:
    if len(value) != 1 or value in '\r\n"':
        raise ValueError("expected one character, not a quote or newline")
    return value


class CsvRouteOptions(Model):
    """How the csv program reads a file; None means "the app's setting, else the default"."""

    group_by: Column | None = None
    latitude: Column | None = None
    longitude: Column | None = None
    id_column: Column | None = None
    partition_by: Column | None = None
    numeric_columns: list[Column] | None = None
    encoding: Annotated[str, AfterValidator(_encoding)] | None = None
    delimiter: Annotated[str, AfterValidator(_delimiter)] | None = None
    max_field_chars: Count | None = None
    max_row_chars: Count | None = None
    max_columns: Count | None = None
    max_reject_ratio: Annotated[float, Field(ge=0, le=1)] | None = None
    max_input_bytes: Count | None = None


class ZipOptions(Model):
    """Caps the zip program applies while reading an archive."""

    max_entries: Count | None = None
    max_entry_bytes: Count | None = None
    max_total_bytes: Count | None = None
    max_ratio: Annotated[float, Field(ge=1)] | None = None
    max_input_bytes: Count | None = None


# Option → the name the worker reads it under.
CSV_SETTINGS = {
    "group_by": ws.GROUP_BY,
    "latitude": ws.LATITUDE_COLUMN,
    "longitude": ws.LONGITUDE_COLUMN,
    "id_column": ws.ID_COLUMN,
    "partition_by": ws.PARTITION_BY,
    "numeric_columns": ws.NUMERIC_COLUMNS,
    "encoding": ws.CSV_ENCODING,
    "delimiter": ws.CSV_DELIMITER,
    "max_field_chars": ws.CSV_MAX_FIELD_CHARS,
    "max_row_chars": ws.CSV_MAX_ROW_CHARS,
    "max_columns": ws.CSV_MAX_COLUMNS,
    "max_reject_ratio": ws.MAX_REJECT_RATIO,
    "max_input_bytes": ws.MAX_INPUT_BYTES,
}
ZIP_SETTINGS = {
    "max_entries": ws.ZIP_MAX_ENTRIES,
    "max_entry_bytes": ws.ZIP_MAX_ENTRY_BYTES,
    "max_total_bytes": ws.ZIP_MAX_TOTAL_BYTES,
    "max_ratio": ws.ZIP_MAX_RATIO,
    "max_input_bytes": ws.MAX_INPUT_BYTES,
}


def worker_env(options: CsvRouteOptions | ZipOptions) -> dict[str, str]:
    """The task variables that give a task these options (unset ones omitted, so the app's
    `DROPBATCH_WORKER_*` settings apply to them)."""
    names = CSV_SETTINGS if isinstance(options, CsvRouteOptions) else ZIP_SETTINGS
    env: dict[str, str] = {}
    for field, name in names.items():
        value = getattr(options, field)
        if value is not None:
            text = ",".join(value) if isinstance(value, list) else str(value)
            env[name] = text
    return env


def csv_options_from(worker_settings: Mapping[str, str]) -> CsvRouteOptions:
    """The csv options the app's `DROPBATCH_WORKER_*` settings give every built-in csv task."""
    return CsvRouteOptions.model_validate(_options(CSV_SETTINGS, worker_settings, CsvRouteOptions))


def zip_options_from(worker_settings: Mapping[str, str]) -> ZipOptions:
    """The zip caps the app's `DROPBATCH_WORKER_*` settings give every built-in zip task."""
    return ZipOptions.model_validate(_options(ZIP_SETTINGS, worker_settings, ZipOptions))


def _options(
    names: Mapping[str, str], worker_settings: Mapping[str, str], model: type[Model]
) -> dict[str, Any]:
    raw: dict[str, Any] = {}
    for field, name in names.items():
        setting = "DROPBATCH_WORKER_" + name.removeprefix("DROPBATCH_")  # the app's name for it
        text = worker_settings.get(name)
        # A delimiter may be whitespace (a tab): only it is kept unstripped.
        if not text or (field != "delimiter" and not text.strip()):
            continue
        value: Any = text if field == "delimiter" else text.strip()
        annotation = str(model.model_fields[field].annotation)
        try:
            if field == "numeric_columns":
                value = [p.strip() for p in value.split(",") if p.strip()]
            elif "int" in annotation:
                value = int(value)
            elif "float" in annotation:
                value = float(value)
            model.model_validate({field: value})
        except (ValueError, ValidationError):
            raise SettingError(setting, f"'{text}' is not a valid {field}") from None
        raw[field] = value
    return raw
