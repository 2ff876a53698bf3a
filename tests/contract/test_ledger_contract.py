"""The ledger's promises, kept by the Cosmos adapter and the in-memory twin alike."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from batch_core.errors import ConflictError, NotFoundError
from batch_core.ledger import KEYS_PER_QUERY, Ledger, RunFilter
from batch_core.ports import LedgerPort
from batch_core.run import Run
from batch_core.states import RunState
from batch_core.testing import MemoryLedger
from tests.contract.conftest import CosmosScratch

T0 = dt.datetime(2024, 3, 1, 9, 0, tzinfo=dt.UTC)


@dataclass
class LedgerSide:
    port: LedgerPort
    put_raw: Callable[[dict[str, Any]], object]  # a document another writer left


@pytest.fixture
def ledger(side: str, request: pytest.FixtureRequest) -> LedgerSide:
    if side == "memory":
        twin = MemoryLedger()
        return LedgerSide(twin, twin.put_document)
    scratch: CosmosScratch = request.getfixturevalue("cosmos_scratch")
    container = scratch.container("runs", "/id")
    return LedgerSide(Ledger(container), lambda doc: container.create_item(doc))


def a_run(
    state: RunState = RunState.RECEIVED,
    container: str = "incoming",
    at: dt.datetime = T0,
    **changes: Any,
) -> Run:
    key = uuid.uuid4().hex[:40]
    run = Run(
        key=key, container=container, name=f"{key[:6]}.csv", etag="0x8D1", size=3, route="csv",
        state=state, reason="received", created_at=at, updated_at=at,
    )  # fmt: skip
    return dataclasses.replace(run, **changes)


def test_create_stores_a_new_run_with_a_document_etag(ledger: LedgerSide) -> None:
    stored, created = ledger.port.create(a_run())
    assert created is True
    assert stored.doc_etag
    assert ledger.port.get(stored.key) == stored


def test_create_of_a_key_that_exists_returns_the_stored_run_and_never_overwrites(
    ledger: LedgerSide,
) -> None:
    first, _ = ledger.port.create(a_run())
    again, created = ledger.port.create(dataclasses.replace(first, reason="a second event"))
    assert created is False
    assert again == first
    assert ledger.port.get(first.key) == first


def test_get_of_an_unknown_key_is_none(
    ledger: LedgerSide, side: str, request: pytest.FixtureRequest
) -> None:
    if side == "real":
        # Cosmos answers 404; the local Cosmos-compatible server fails with HTTP 500 on a read
        # of a missing document (its read handler dereferences the absent document). When the
        # local server is fixed this passes and the mark must go.
        request.applymarker(pytest.mark.xfail(strict=True, reason="local Cosmos server: 500"))
    assert ledger.port.get(uuid.uuid4().hex) is None


def test_save_with_the_current_etag_stores_and_changes_the_etag(ledger: LedgerSide) -> None:
    stored, _ = ledger.port.create(a_run())
    saved = ledger.port.save(dataclasses.replace(stored, alerted=True))
    assert saved.alerted is True
    assert saved.doc_etag and saved.doc_etag != stored.doc_etag
    assert ledger.port.get(stored.key) == saved


def test_save_with_a_stale_etag_raises_conflict_and_keeps_the_newer_run(
    ledger: LedgerSide,
) -> None:
    stored, _ = ledger.port.create(a_run())
    newer = ledger.port.save(dataclasses.replace(stored, reason="first writer"))
    with pytest.raises(ConflictError):
        ledger.port.save(dataclasses.replace(stored, reason="second writer"))
    assert ledger.port.get(stored.key) == newer


def test_save_without_an_etag_replaces_whatever_is_stored(ledger: LedgerSide) -> None:
    stored, _ = ledger.port.create(a_run())
    ledger.port.save(dataclasses.replace(stored, reason="first writer"))
    saved = ledger.port.save(dataclasses.replace(stored, reason="blind", doc_etag=None))
    assert saved.reason == "blind"


def test_save_of_a_run_never_created_is_not_found(ledger: LedgerSide) -> None:
    with pytest.raises(NotFoundError):
        ledger.port.save(a_run())


def test_advance_moves_forward_with_a_history_entry(ledger: LedgerSide) -> None:
    stored, _ = ledger.port.create(a_run())
    later = T0 + dt.timedelta(seconds=5)
    moved = ledger.port.advance(
        stored, RunState.SUBMITTED, "attempt 1", later, attempt=1, job_id="j", task_id="t"
    )
    assert (moved.state, moved.reason, moved.updated_at) == (RunState.SUBMITTED, "attempt 1", later)
    assert (moved.attempt, moved.job_id, moved.task_id) == (1, "j", "t")
    assert moved.history[-1]["state"] == "submitted"
    assert ledger.port.get(stored.key) == moved


def test_advance_backward_or_out_of_a_terminal_state_raises_conflict(ledger: LedgerSide) -> None:
    stored, _ = ledger.port.create(a_run(RunState.RUNNING))
    with pytest.raises(ConflictError):
        ledger.port.advance(stored, RunState.RECEIVED, "back", T0)
    done = ledger.port.advance(stored, RunState.SUCCEEDED, "processed", T0)
    with pytest.raises(ConflictError):
        ledger.port.advance(done, RunState.FAILED, "after the end", T0)
    assert ledger.port.get(stored.key) == done


def test_advance_from_a_stale_read_raises_conflict(ledger: LedgerSide) -> None:
    stored, _ = ledger.port.create(a_run())
    ledger.port.advance(stored, RunState.SUBMITTED, "one delivery", T0)
    with pytest.raises(ConflictError):
        ledger.port.advance(stored, RunState.SUBMITTED, "the other delivery", T0)


def test_active_holds_received_submitted_and_running_runs_only(ledger: LedgerSide) -> None:
    runs = {s: ledger.port.create(a_run(s))[0] for s in RunState}
    active = {r.key: r.state for r in ledger.port.active()}
    expected = (RunState.RECEIVED, RunState.SUBMITTED, RunState.RUNNING)
    assert active == {runs[s].key: s for s in expected}


def test_unalerted_runs_are_due_incidents_and_failed_runs_not_marked_alerted(
    ledger: LedgerSide,
) -> None:
    told, _ = ledger.port.create(a_run(RunState.FAILED, alerted=True))
    untold, _ = ledger.port.create(a_run(RunState.FAILED))
    due, _ = ledger.port.create(a_run(RunState.REJECTED, alert_due=True))
    ledger.port.create(a_run(RunState.REJECTED))  # rejected before rejections were alerted
    ledger.port.create(a_run(RunState.SUCCEEDED))
    assert sorted(r.key for r in ledger.port.unalerted()) == sorted([untold.key, due.key])
    ledger.port.save(dataclasses.replace(untold, alerted=True))
    ledger.port.save(dataclasses.replace(due, alerted=True, alert_due=False))
    assert ledger.port.unalerted() == []
    assert told.alerted


def test_expirable_parts_are_old_ended_extracted_runs_whose_input_is_still_there(
    ledger: LedgerSide,
) -> None:
    old = T0 - dt.timedelta(hours=2)
    part, _ = ledger.port.create(a_run(RunState.SUCCEEDED, at=old, parent="zip-key"))
    ledger.port.create(a_run(RunState.SUCCEEDED, at=old))  # not extracted
    ledger.port.create(a_run(RunState.RUNNING, at=old, parent="zip-key"))  # not ended
    ledger.port.create(a_run(RunState.FAILED, at=T0, parent="zip-key"))  # too young
    ledger.port.create(a_run(RunState.FAILED, at=old, parent="zip-key", input_removed=True))
    cutoff = T0 - dt.timedelta(hours=1)
    assert [r.key for r in ledger.port.expirable_parts(cutoff)] == [part.key]
    ledger.port.create(a_run(RunState.VANISHED, at=old, parent="zip-key"))
    assert len(ledger.port.expirable_parts(cutoff)) == 2
    assert len(ledger.port.expirable_parts(cutoff, limit=1)) == 1


def test_unsettled_are_ended_runs_whose_file_is_still_where_it_was_dropped(
    ledger: LedgerSide,
) -> None:
    ended = [ledger.port.create(a_run(s))[0] for s in (RunState.SUCCEEDED, RunState.VANISHED)]
    ledger.port.create(a_run(RunState.RUNNING))  # not ended
    ledger.port.create(a_run(RunState.FAILED, input_removed=True, original="failed/x"))  # moved
    ledger.port.create(a_run(RunState.REJECTED, original="incoming/x"))  # settled in place
    assert sorted(r.key for r in ledger.port.unsettled()) == sorted(r.key for r in ended)
    assert len(ledger.port.unsettled(limit=1)) == 1
    ledger.port.save(dataclasses.replace(ended[0], input_removed=True))
    assert [r.key for r in ledger.port.unsettled()] == [ended[1].key]


def test_known_keys_are_the_asked_keys_that_have_a_run_whatever_its_state(
    ledger: LedgerSide,
) -> None:
    runs = {ledger.port.create(a_run(s))[0].key for s in RunState}
    unknown = {uuid.uuid4().hex[:40] for _ in range(3)}
    assert ledger.port.known_keys([*runs, *unknown]) == runs
    assert ledger.port.known_keys(unknown) == set()
    assert ledger.port.known_keys([]) == set()


def test_known_keys_answers_for_more_keys_than_one_query_holds(ledger: LedgerSide) -> None:
    made = [ledger.port.create(a_run(RunState.SUCCEEDED))[0].key for _ in range(3)]
    unknown = [uuid.uuid4().hex[:40] for _ in range(2 * KEYS_PER_QUERY)]
    assert ledger.port.known_keys([*unknown, *made]) == set(made)


def test_recent_is_newest_first_within_the_limit_and_filters_by_state(ledger: LedgerSide) -> None:
    made = [
        ledger.port.create(a_run(s, at=T0 + dt.timedelta(minutes=i)))[0]
        for i, s in enumerate([RunState.FAILED, RunState.SUCCEEDED, RunState.FAILED])
    ]
    assert [r.key for r in ledger.port.recent()] == [r.key for r in reversed(made)]
    assert [r.key for r in ledger.port.recent(limit=1)] == [made[2].key]
    assert [r.key for r in ledger.port.recent(state=RunState.FAILED)] == [made[2].key, made[0].key]


def test_an_unreadable_document_does_not_hide_the_others(ledger: LedgerSide) -> None:
    good, _ = ledger.port.create(a_run())
    ledger.put_raw({**a_run().to_doc(), "schema_version": 99})
    assert [r.key for r in ledger.port.active()] == [good.key]
    assert [r.key for r in ledger.port.recent()] == [good.key]


def test_newest_finds_runs_by_the_start_of_their_file_key(ledger: LedgerSide) -> None:
    one, _ = ledger.port.create(a_run(key="abcdef0123" + "0" * 30))
    two, _ = ledger.port.create(a_run(key="abcdef0199" + "0" * 30, at=T0 + dt.timedelta(1)))
    ledger.port.create(a_run(key="bbcdef0123" + "0" * 30))
    assert [r.key for r in ledger.port.newest(RunFilter(key_prefix="abcdef01"), 10)] == [
        two.key,
        one.key,
    ]
    assert [r.key for r in ledger.port.newest(RunFilter(key_prefix="abcdef0123"), 10)] == [one.key]
