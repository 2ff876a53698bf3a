"""The soak's verdict: what was lost, duplicated or wrong, from what the stack holds at the end.

- lost: a dropped file with no run in the ledger, or whose run never ended;
- duplicated: a file with more than one run, or more than one Batch task for one attempt
  (the same task id in two jobs counts too), or a task for an attempt its run never made;
- wrong: a run that ended in another state than its kind's, a task for a file that should
  have none, a CSV file whose Cosmos records are not exactly the ids of its rows, a light
  file without its output blob.

Pure: it is given the ledger's documents, the task ids, the records and the result blobs."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from batch_core.keys import task_attempt
from batch_core.states import TERMINAL
from devstack.soak.plan import CSV_ROWS, OUTPUT_NAME, Kind, Planned
from devstack.verdict import Verdict
from worker.document import document_id

EXAMPLES = 20  # problems listed by name in the report; the counts are always complete


def expected_record_ids(key: str) -> set[str]:
    return {document_id(key, f"row:{row}") for row in range(1, CSV_ROWS + 1)}


def judge(
    planned: Sequence[Planned],
    keys: Mapping[str, str],
    runs: Iterable[Mapping[str, Any]],
    task_ids: Iterable[str],
    records: Iterable[tuple[str, str]],
    outputs: Iterable[str],
) -> Verdict:
    """`keys`: file name → the file key of the version dropped; `runs`: ledger documents
    (`id`, `name`, `state`, `attempt`); `task_ids`: every task of every job, once per job;
    `records`: (partition key, id) of every Cosmos record; `outputs`: blob names in
    `results`."""
    verdict = Verdict()
    by_name: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for doc in runs:
        by_name[str(doc["name"])].append(doc)
    tasks: Counter[tuple[str, int]] = Counter()
    for tid in task_ids:
        if (found := task_attempt(tid)) is not None:
            tasks[found] += 1
    held: dict[str, set[str]] = defaultdict(set)
    for pk, rid in records:
        held[pk].add(rid)
    produced = set(outputs)

    for f in planned:
        key = keys[f.name]
        docs = by_name.get(f.name, [])
        if len(docs) > 1:
            verdict.duplicated.append(f"{f.name}: {len(docs)} runs")
        mine = [d for d in docs if d["id"] == key]
        if not mine:
            verdict.lost.append(f"{f.name}: no run in the ledger")
            continue
        run = mine[0]
        state = str(run["state"])
        if state not in TERMINAL:
            verdict.lost.append(f"{f.name}: still {state}")
            continue
        if state != f.kind.expected_state:
            why = run.get("reason") or ""
            verdict.wrong.append(f"{f.name}: {state}, expected {f.kind.expected_state} ({why})")
        _judge_tasks(verdict, f, key, int(run.get("attempt") or 0), tasks)
        _judge_content(verdict, f, key, held, produced)
    csv_keys = {keys[f.name] for f in planned if f.kind is Kind.CSV}
    for pk in sorted(set(held) - csv_keys):
        verdict.wrong.append(f"{len(held[pk])} Cosmos records under {pk}, of no CSV file dropped")
    return verdict


def _judge_tasks(
    verdict: Verdict, f: Planned, key: str, attempts: int, tasks: Counter[tuple[str, int]]
) -> None:
    made = {a: n for (k, a), n in tasks.items() if k == key[:32]}
    if not f.kind.has_task:
        if made:
            verdict.wrong.append(f"{f.name}: {sum(made.values())} Batch tasks, expected none")
        return
    for attempt, count in sorted(made.items()):
        if count > 1:
            verdict.duplicated.append(f"{f.name}: {count} Batch tasks for attempt {attempt}")
        if attempt > attempts:
            verdict.duplicated.append(
                f"{f.name}: a Batch task for attempt {attempt}; the run made {attempts}"
            )
    if not made:
        verdict.wrong.append(f"{f.name}: no Batch task")


def _judge_content(
    verdict: Verdict, f: Planned, key: str, held: Mapping[str, set[str]], produced: set[str]
) -> None:
    if f.kind is Kind.CSV:
        wanted = expected_record_ids(key)
        have = held.get(key, set())
        if have != wanted:
            verdict.wrong.append(
                f"{f.name}: {len(wanted - have)} Cosmos records missing, "
                f"{len(have - wanted)} unexpected"
            )
    elif f.kind is Kind.LIGHT and output_blob(f.name, key) not in produced:
        verdict.wrong.append(f"{f.name}: no {OUTPUT_NAME} in results")


def output_blob(name: str, key: str) -> str:
    """Where the light route puts a file's output (`results:{results}/lines.txt`)."""
    return f"{name}/{key}/{OUTPUT_NAME}"
