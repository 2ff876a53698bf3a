"""The plan task's reading of a fan-out file (`worker.planread`): members of items, rows,
entries and ranges, declared fields checked, unsafe command-line values and too many members
rejected with where and why."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest

from worker.archive import Archive
from worker.errors import RejectedInput
from worker.options import CsvOptions, ZipLimits
from worker.planread import PlanSpec, entry_members, read_members


def spec(**fields: object) -> PlanSpec:
    doc = {
        "route": "r", "source": "items", "entries": None, "range": None, "max_members": 100,
        "allow_empty": False, "fields": {}, "values": [], "command_line": [],
        "write_params": True, "write_global": True, "write_input": False,
    } | fields  # fmt: skip
    return PlanSpec.from_json(json.dumps(doc))


def write(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "input"
    path.write_bytes(data)
    return path


def items_file(tmp_path: Path, items: list[object], glob: object = None) -> Path:
    doc: dict[str, object] = {"items": items}
    if glob is not None:
        doc["global"] = glob
    return write(tmp_path, json.dumps(doc).encode())


def test_items_become_members_with_their_declared_values(tmp_path: Path) -> None:
    s = spec(
        fields={"seed": {"type": "int", "min": 0}}, values=["item.seed"], command_line=["item.seed"]
    )
    found = read_members(
        s, items_file(tmp_path, [{"seed": 1}, {"seed": 22}], {"power": 2}), CsvOptions()
    )
    assert [m.values for m in found.members] == [{"item.seed": "1"}, {"item.seed": "22"}]
    assert found.global_doc == {"power": 2}


@pytest.mark.parametrize(
    ("item", "fields", "message"),
    [
        (
            {"seed": -1},
            {"seed": {"type": "int", "min": 0}},
            "items[1]: field 'seed': -1 is below the minimum 0",
        ),
        (
            {"seed": "x"},
            {"seed": {"type": "int"}},
            "items[1]: field 'seed': expected a whole number",
        ),
        ({}, {"seed": {"type": "int"}}, "items[1]: field 'seed' is missing"),
        ({"seed": 12}, {"seed": {"type": "int", "pattern": "[0-9]"}}, "'12' does not match"),
    ],
)
def test_a_bad_item_is_rejected_naming_it(
    tmp_path: Path, item: dict[str, object], fields: dict[str, object], message: str
) -> None:
    with pytest.raises(RejectedInput, match=message.replace("[", r"\[").replace("]", r"\]")):
        read_members(spec(fields=fields), items_file(tmp_path, [{"seed": 1}, item]), CsvOptions())


def test_a_value_unsafe_in_the_command_line_rejects_the_file(tmp_path: Path) -> None:
    s = spec(fields={"name": {}}, values=["item.name"], command_line=["item.name"])
    with pytest.raises(RejectedInput, match=r"items\[0\]: \{item.name\} = 'a; rm' may not go"):
        read_members(s, items_file(tmp_path, [{"name": "a; rm"}]), CsvOptions())


def test_too_many_members_and_an_empty_file_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(RejectedInput, match="3 items, more than max_members"):
        read_members(spec(max_members=2), items_file(tmp_path, [{}, {}, {}]), CsvOptions())
    with pytest.raises(RejectedInput, match="allow_empty"):
        read_members(spec(), items_file(tmp_path, []), CsvOptions())
    assert (
        read_members(spec(allow_empty=True), items_file(tmp_path, []), CsvOptions()).members == []
    )


def test_rows_are_members_and_a_short_row_is_rejected_by_line(tmp_path: Path) -> None:
    s = spec(
        source="rows",
        fields={"elevation": {"type": "float", "max": 9000}},
        values=["row.elevation"],
    )
    found = read_members(s, write(tmp_path, b"id,elevation\nA,12.5\n\nB,30\n"), CsvOptions())
    assert [m.params for m in found.members] == [
        {"id": "A", "elevation": "12.5"},
        {"id": "B", "elevation": "30"},
    ]
    assert [m.values["row.elevation"] for m in found.members] == ["12.5", "30.0"]
    with pytest.raises(RejectedInput, match="line 3: 1 fields, the header has 2"):
        read_members(s, write(tmp_path, b"id,elevation\nA,1\nB\n"), CsvOptions())


def test_a_range_is_its_numbers() -> None:
    found = read_members(spec(source="range", range=[3, 6]), Path("unused"), CsvOptions())
    assert [m.params for m in found.members] == [{"index": 3}, {"index": 4}, {"index": 5}]


def test_entries_matching_the_glob_are_members_in_name_order(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("configs/b.json", "{}")
        z.writestr("configs/a.json", "{}")
        z.writestr("README.txt", "x")
        z.writestr("configs/deep/c.json", "{}")
    path = write(tmp_path, buffer.getvalue())
    s = spec(
        source="entries", entries=r"configs/[^/]*\.json", values=["entry"], command_line=["entry"]
    )
    with Archive(path, ZipLimits()) as archive:
        found = entry_members(s, archive, path)
    assert [m.values["entry"] for m in found.members] == ["configs/a.json", "configs/b.json"]
