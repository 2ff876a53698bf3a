"""A bad routes file stops start-up with one message: the file, the line where the route or
pool starts, the route or pool, the field path and what is allowed."""

from __future__ import annotations

from pathlib import Path

import pytest

from batch_core.errors import RoutesFileError, SettingError
from batch_core.routebook import load_routes, parse_routes

PREFIX = "setting DROPBATCH_ROUTES_FILE: "
# A valid start every case builds on: the route under test starts on line 11.
HEAD = """version = 1

[pool.big]
id = "dropbatch-big"

[[route]]
name = "plain"
match = ["**.csv"]
kind = "csv"

"""


def command_route(body: str, task: str = 'command = "run"', name: str = "hexgrid") -> str:
    return (
        HEAD
        + f'[[route]]\nname = "{name}"\nmatch = ["hexgrid/*.json"]\nkind = "command"\n'
        + body
        + f"\n[route.task]\n{task}\n"
    )


CASES = {
    "toml syntax error": (
        'version = 1\n[[route]]\nname = "unterminated\n',
        "routes.toml:3:21: not valid TOML: Illegal character '\\n'",
    ),
    "unknown field, with a near miss suggested": (
        command_route("", task='comand = "run"'),
        "routes.toml:11 route 'hexgrid': task.comand: unknown field (did you mean command?); "
        "expected one of command, env, resource_files, outputs, container, required_slots, "
        "max_wall_clock, retention, elevated",
    ),
    "bad kind": (
        HEAD + '[[route]]\nname = "shell"\nmatch = ["*.sh"]\nkind = "script"\n',
        "routes.toml:11 route 'shell': kind: expected zip, csv or command",
    ),
    "unknown pool alias": (
        command_route('pool = "gpu"'),
        "routes.toml:11 route 'hexgrid': pool: unknown pool 'gpu'; expected big, default",
    ),
    "bad glob": (
        HEAD + '[[route]]\nname = "two"\nmatch = ["*.json", "data/[ab]*.csv"]\nkind = "csv"\n',
        "routes.toml:11 route 'two': match[1]: [ ] not supported in globs (only *, ** and ?); "
        "list several globs in match instead",
    ),
    "duplicate route name": (
        HEAD + '[[route]]\nname = "plain"\nmatch = ["*.tsv"]\nkind = "csv"\n',
        "routes.toml:11 route 'plain': name: duplicate: route #1 is also called 'plain'",
    ),
    "bad name pattern": (
        HEAD + '[[route]]\nname = "Hex_Grid"\nmatch = ["*.json"]\nkind = "csv"\n',
        "routes.toml:11 route 'Hex_Grid': name: expected 1 to 24 of a-z, 0-9 and -",
    ),
    "unknown placeholder": (
        command_route("", task='command = "run {nmae}"'),
        "routes.toml:11 route 'hexgrid': task.command: unknown placeholder {nmae}: expected one "
        "of {base}, {container}, {dir}, {ext}, {file_key}, {key12}, {name}, {results}, {route}, "
        "{stem}",
    ),
    "var placeholder not in vars": (
        command_route('vars = { region = "eu" }', task='command = "run --zone {var.zone}"'),
        "routes.toml:11 route 'hexgrid': task.command: unknown placeholder {var.zone}: not in "
        "this route's vars (region)",
    ),
    "member source outside a fan-out": (
        command_route(
            "", task='command = "run"\nresource_files = [{ source = "member:params", path = "p" }]'
        ),
        "routes.toml:11 route 'hexgrid': task.resource_files[0].source: member:params is only "
        "for fan-out member tasks, not a route without [route.fanout]",
    ),
    "SAS in an https source": (
        command_route(
            "",
            task='command = "run"\nresource_files = [\n  { source = "config:app/", path = "app/" },'
            '\n  { source = "https://acct.blob.core.windows.net/c/a.py?sv=2024&sig=x", '
            'path = "a.py" },\n]',
        ),
        "routes.toml:11 route 'hexgrid': task.resource_files[1].source: an https source may not "
        "carry a query string (dropbatch never puts a SAS into a task); use a public URL or "
        "config:<path>",
    ),
    "bad upload condition": (
        command_route(
            "",
            task='command = "run"\noutputs = [\n  { pattern = "a", to = "results:{results}/a" },\n'
            '  { pattern = "out/*", to = "results:{results}/", upload = "always" },\n]',
        ),
        "routes.toml:11 route 'hexgrid': task.outputs[1].upload: expected task_success, "
        "task_failure or task_completion",
    ),
    "bad duration": (
        command_route('backoff = "30 seconds"'),
        'routes.toml:11 route \'hexgrid\': backoff: expected a duration such as "30s", "15m", '
        '"1h", "2h30m" or "1d"',
    ),
    "max_members above the hard cap": (
        command_route('[route.fanout]\nsource = "items"\nmax_members = 20000'),
        "routes.toml:11 route 'hexgrid': fanout.max_members: expected 1 to 10,000 (the hard cap)",
    ),
    "command route without a task": (
        HEAD + '[[route]]\nname = "lonely"\nmatch = ["*.json"]\nkind = "command"\n',
        "routes.toml:11 route 'lonely': task: required for kind = command: add a [route.task] "
        "table",
    ),
    "zip route with a task": (
        HEAD + '[[route]]\nname = "zips"\nmatch = ["*.zip"]\nkind = "zip"\n'
        '[route.task]\ncommand = "unzip"\n',
        "routes.toml:11 route 'zips': task: only for kind = command routes",
    ),
    "bad output destination": (
        command_route("", task='command = "run"\noutputs = [{ pattern = "a", to = "incoming:a" }]'),
        "routes.toml:11 route 'hexgrid': task.outputs[0].to: expected results:<path> or "
        "logs:<path>",
    ),
    "entries fan-out without an entries glob": (
        command_route('[route.fanout]\nsource = "entries"'),
        "routes.toml:11 route 'hexgrid': fanout.entries: required for source = \"entries\" (a "
        "glob on entry names)",
    ),
    "range fan-out without a range": (
        command_route('[route.fanout]\nsource = "range"'),
        "routes.toml:11 route 'hexgrid': fanout.range: required for source = \"range\": range = "
        "{ start, stop }",
    ),
    "bad tolerate": (
        command_route('[route.fanout]\nsource = "items"\ntolerate = "a few"'),
        "routes.toml:11 route 'hexgrid': fanout.tolerate: expected a count (0 or more) or a "
        'percentage such as "5%"',
    ),
    "member placeholder in a merge task": (
        command_route('[route.fanout]\nsource = "items"', task='command = "run {index}"')
        + '[route.merge]\ncommand = "merge {member}"\n',
        "routes.toml:11 route 'hexgrid': merge.command: unknown placeholder {member}: not in a "
        "merge task, which runs once for all members",
    ),
    "undeclared item field": (
        command_route('[route.fanout]\nsource = "items"', task='command = "run {item.seed}"'),
        "routes.toml:11 route 'hexgrid': task.command: unknown placeholder {item.seed}: declare "
        "the field in [route.fanout.fields] (item fields: none)",
    ),
    "unescaped shell braces": (
        command_route("", task="command = \"awk '{print $1}' data\""),
        "routes.toml:11 route 'hexgrid': task.command: '{print $1}' is not a placeholder; write "
        "{{ and }} for literal braces",
    ),
    "member source the fan-out source cannot give": (
        command_route(
            '[route.fanout]\nsource = "rows"',
            task='command = "run"\nresource_files = [{ source = "member:global", path = "g" }]',
        ),
        "routes.toml:11 route 'hexgrid': task.resource_files[0].source: member:global needs "
        "fanout.source = items",
    ),
    "container task on a pool without containers": (
        command_route('pool = "big"', task='command = "run"\ncontainer = { image = "app:1" }'),
        "routes.toml:11 route 'hexgrid': task.container: pool 'big' has no containers table; a "
        "container task needs one",
    ),
    "prefix source into a file path": (
        command_route(
            "", task='command = "run"\nresource_files = [{ source = "config:app/", path = "app" }]'
        ),
        "routes.toml:11 route 'hexgrid': task.resource_files[0].path: config:app/ is a prefix; "
        "expected a folder ending in /",
    ),
    "path escaping the working directory": (
        command_route(
            "", task='command = "run"\nresource_files = [{ source = "input", path = "../x" }]'
        ),
        "routes.toml:11 route 'hexgrid': task.resource_files[0].path: expected a relative path "
        "(no leading /, no .., no backslash)",
    ),
    "children naming no route": (
        HEAD + '[[route]]\nname = "zips"\nmatch = ["*.zip"]\nkind = "zip"\nchildren = "nope"\n',
        "routes.toml:11 route 'zips': children: no route is named 'nope'",
    ),
    "built-in route on a pool without the worker": (
        HEAD + '[[route]]\nname = "zips"\nmatch = ["*.zip"]\nkind = "zip"\npool = "big"\n',
        "routes.toml:11 route 'zips': pool: pool 'big' does not install the worker the built-in "
        "zip program needs (set install_worker = true)",
    ),
    "a string where a number belongs": (
        command_route('max_attempts = "3"'),
        "routes.toml:11 route 'hexgrid': max_attempts: expected a whole number",
    ),
    "reserved environment name": (
        command_route("", task='command = "run"\nenv = { AZ_BATCH_NODE_ID = "x" }'),
        "routes.toml:11 route 'hexgrid': task.env.AZ_BATCH_NODE_ID: reserved: AZ_BATCH_* and "
        "DROPBATCH_* are set by Batch and dropbatch",
    ),
    "exit code listed twice": (
        command_route("exit_codes = { reject = [3], no_retry = [2, 3] }"),
        "routes.toml:11 route 'hexgrid': exit_codes.no_retry[1]: 3 is already listed as reject",
    ),
    "csv option misspelt as the worker's setting name": (
        HEAD + '[[route]]\nname = "tsv"\nmatch = ["*.tsv"]\nkind = "csv"\n'
        'csv = { delimiter = "\\t", latitude_column = "lat" }\n',
        "routes.toml:11 route 'tsv': csv.latitude_column: unknown field (did you mean "
        "latitude?); expected one of group_by, latitude, longitude, id_column, partition_by, "
        "numeric_columns, encoding, delimiter, max_field_chars, max_row_chars, max_columns, "
        "max_reject_ratio, max_input_bytes",
    ),
    "route without a name": (
        HEAD + '[[route]]\nmatch = ["*.json"]\nkind = "csv"\n',
        "routes.toml:11 route #2: name: required",
    ),
    "pool: unknown field": (
        HEAD.replace('id = "dropbatch-big"', 'id = "dropbatch-big"\nvmsize = "x"'),
        "routes.toml:3 pool 'big': vmsize: unknown field (did you mean vm_size?); expected one "
        "of id, vm_size, image, node_agent_sku, task_slots_per_node, node_fill, dedicated_max, "
        "spot_max, autoscale, delete_when_idle, install_worker, start_task, containers, managed",
    ),
    "pool other than default without an id": (
        'version = 1\n\n[pool.gpu]\nvm_size = "standard_nc6"\n',
        "routes.toml:3 pool 'gpu': id: required (the Batch pool id); only pool 'default' may "
        "leave it out",
    ),
    "pool: placeholder in a start task": (
        'version = 1\n[pool.big]\nid = "big"\n[pool.big.start_task]\ncommand = "setup {base}"\n',
        "routes.toml:2 pool 'big': start_task.command: unknown placeholder {base}: start tasks "
        "run once per node, not per file: no placeholders",
    ),
    "pool: external pool described anyway": (
        'version = 1\n[pool.big]\nid = "big"\nmanaged = "external"\nvm_size = "x"\n',
        "routes.toml:2 pool 'big': vm_size: may not be set on an external pool (dropbatch never "
        "creates one); allowed there: id, install_worker, managed, task_slots_per_node",
    ),
    "pool: bad autoscale": (
        'version = 1\n[pool.big]\nid = "big"\nautoscale = 3\n',
        "routes.toml:2 pool 'big': autoscale: expected true, false or an autoscale formula (a "
        "string)",
    ),
    "top level: missing version": (
        '[defaults]\nbackoff = "1m"\n',
        "routes.toml:1: version: required",
    ),
    "top level: bad defaults": (
        'version = 1\n\n[defaults]\npool = "default"\nbackoff = "1 minute"\n',
        'routes.toml:3: defaults.backoff: expected a duration such as "30s", "15m", "1h", '
        '"2h30m" or "1d"',
    ),
}


@pytest.mark.parametrize("text, expected", CASES.values(), ids=list(CASES))
def test_a_broken_routes_file_is_reported_in_one_exact_message(text: str, expected: str) -> None:
    with pytest.raises(RoutesFileError) as caught:
        parse_routes(text)
    assert str(caught.value) == PREFIX + expected


def test_the_error_is_a_setting_error_carrying_its_parts() -> None:
    with pytest.raises(SettingError) as caught:
        parse_routes(command_route('backoff = "soon"'))
    error = caught.value
    assert isinstance(error, RoutesFileError)
    assert error.name == "DROPBATCH_ROUTES_FILE"
    assert (error.file, error.line, error.subject, error.field) == (
        "routes.toml",
        11,
        "route 'hexgrid'",
        "backoff",
    )


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "routes.toml"
    with pytest.raises(RoutesFileError) as caught:
        load_routes(missing)
    assert str(caught.value) == f"{PREFIX}{missing}: file not found"


def test_the_line_is_that_of_the_route_even_after_multi_line_commands() -> None:
    text = (
        command_route("", task="command = '''\n[[route]]\nnot a header, inside the string\n'''")
        + '\n[[route]]\nname = "late"\nmatch = ["*.x"]\nkind = "zip"\nchildren = "zzz"\n'
    )
    with pytest.raises(RoutesFileError) as caught:
        parse_routes(text, "conf/routes.toml")
    assert str(caught.value) == (
        f"{PREFIX}conf/routes.toml:22 route 'late': children: no route is named 'zzz'"
    )
