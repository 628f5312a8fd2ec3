"""The scale-out benchmark's judgements: one outcome per command, the group's
rebalances as an outside watcher sees them, a process's own counters."""

from __future__ import annotations

import json
import math

import pytest
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment
from prometheus_client import generate_latest

from shared.runtime.metrics import CommandOutcome, ServiceMetrics
from shared.tools.bench.envelopes import deposit, open_account
from shared.tools.bench.group_watch import GroupView, GroupWatch, shape, stable_assignments, view_of
from shared.tools.bench.ledger_rate import Results
from shared.tools.bench.outcomes import answered, describe, tally
from shared.tools.bench.scale_out import settings_from
from shared.tools.bench.scale_runs import Load
from shared.tools.bench.scrape import command_outcomes, unpublished_rows

TOPIC = "bench.ledger.commands"


def test_each_command_accepted_once_even_if_its_result_came_twice() -> None:
    answers = {
        "a": [(1.0, "accepted")],
        "b": [(2.0, "accepted"), (5.0, "accepted")],
        "c": [(3.0, "accepted")],
    }

    result = tally(["a", "b", "c"], answers)

    assert (result.accepted, result.repeated_results, result.violations) == (3, 1, 0)
    assert result.first_accepted_at == (1.0, 2.0, 3.0)
    assert result.rate() == 3 / 2.0
    assert describe(result) == "3 of 3 accepted once, 1 result(s) delivered again (allowed)"


def test_unanswered_rejected_and_two_way_answers_are_violations() -> None:
    answers = {
        "ok": [(1.0, "accepted")],
        "refused": [(2.0, "rejected")],
        "both": [(3.0, "accepted"), (4.0, "rejected")],
        "someone-else": [(5.0, "accepted")],
    }

    result = tally(["ok", "refused", "both", "lost"], answers)

    assert (result.unanswered, result.rejected, result.conflicting) == (1, 1, 1)
    assert result.violations == 3
    assert "1 unanswered, 1 rejected, 1 answered both ways" in describe(result)
    assert answered(["ok", "refused", "both", "lost"], answers) == 3


def test_the_rate_counts_commands_accepted_in_a_window() -> None:
    answers = {str(n): [(float(n), "accepted")] for n in range(11)}

    result = tally(answers, answers)

    assert result.accepted_between(2.0, 5.0) == 4
    assert result.rate() == 11 / 10.0
    assert math.isnan(tally(["0"], answers).rate())


def _described(state: str, members: dict[str, list[int]]) -> dict[str, object]:
    """A group as ``DescribeGroups`` answers, with real encoded assignments."""
    return {
        "state": state,
        "members": [
            {
                "member_id": member,
                "member_assignment": ConsumerProtocolMemberAssignment(
                    0, [(TOPIC, partitions), ("other.topic", [0])], b""
                ).encode(),
            }
            for member, partitions in members.items()
        ],
    }


def test_a_described_group_says_who_owns_which_partitions_of_the_topic() -> None:
    view = view_of(_described("Stable", {"m1": [2, 0, 1], "m2": [3, 4, 5]}), TOPIC, at=7.0)

    assert view == GroupView("Stable", {"m1": (0, 1, 2), "m2": (3, 4, 5)}, 7.0)
    assert shape(view.assignment) == "3+3"


def test_a_member_still_joining_owns_nothing() -> None:
    described = {
        "state": "CompletingRebalance",
        "members": [{"member_id": "m", "member_assignment": b""}],
    }

    assert view_of(described, TOPIC).assignment == {"m": ()}


def test_each_new_stable_assignment_after_the_first_is_a_rebalance() -> None:
    alone = {"a": (0, 1, 2, 3, 4, 5)}
    shared = {"a": (0, 1, 2), "b": (3, 4, 5)}
    survivor = {"b": (0, 1, 2, 3, 4, 5)}
    views = [
        GroupView("Stable", alone, 1.0),
        GroupView("Stable", alone, 2.0),
        GroupView("PreparingRebalance", {"a": (), "b": ()}, 3.0),
        GroupView("Stable", shared, 4.0),
        GroupView("Stable", shared, 5.0),
        GroupView("PreparingRebalance", shared, 6.0),
        GroupView("Stable", survivor, 9.0),
    ]

    assert [v.at for v in stable_assignments(views)] == [1.0, 4.0, 9.0]
    watch = GroupWatch("group", TOPIC, views)
    assert (watch.rebalances, watch.members) == (2, 2)
    assert watch.history() == "6 -> 3+3 -> 6"
    assert watch.settled_at() == 9.0


def test_a_group_never_seen_has_no_rebalance() -> None:
    watch = GroupWatch("group", TOPIC, [GroupView("Empty", {}, 1.0)])

    assert (watch.rebalances, watch.members, watch.history()) == (0, 0, "none seen")
    assert watch.settled_at() is None


def test_a_process_counters_are_read_from_its_metrics_text() -> None:
    metrics = ServiceMetrics("ledger", process_metrics=False)
    for _ in range(3):
        metrics.command("CreatePointTransaction", CommandOutcome.ACCEPTED)
    metrics.command("CreatePointTransaction", CommandOutcome.REDELIVERY_IGNORED)
    metrics.command("OpenLedgerAccount", CommandOutcome.ACCEPTED)
    metrics.outbox_lag(4, 1.5)

    text = generate_latest(metrics.registry).decode()

    outcomes = command_outcomes(text, "CreatePointTransaction")
    assert outcomes == {"accepted": 3, "redelivery_ignored": 1}
    assert unpublished_rows(text) == 4
    assert math.isnan(unpublished_rows(""))


def _result(command_id: str, status: str = "accepted") -> bytes:
    payload = {"command_id": command_id, "command_type": "CreatePointTransaction", "status": status}
    return json.dumps({"payload": payload}).encode()


def test_a_load_counts_its_deposits_answered_as_results_arrive() -> None:
    results = Results()
    load = Load(results)
    ids = load.add([("a", deposit("a", "tx-1")), ("b", deposit("b", "tx-2"))])
    results.add(_result("someone-else"))

    assert (load.unanswered(), load.done()) == (2, False)
    results.add(_result(ids[0]))
    results.add(_result(ids[0]))  # delivered twice: still one deposit answered
    assert (load.answered(), load.unanswered()) == (1, 1)
    results.add(_result(ids[1], "rejected"))
    assert load.done()


def test_a_load_adds_up_what_its_deposits_deposit() -> None:
    load = Load(Results())
    load.add([("a", deposit("a", "tx-1")), ("a", open_account("a")), ("b", deposit("b", "tx-2"))])

    assert load.deposited() == 2 * 100  # envelopes.deposit sends 100 points


def test_settings_are_name_value_pairs() -> None:
    pairs = ["STORECREDIT_BATCH_SIZE=500", "X=a=b"]

    assert settings_from(pairs) == {"STORECREDIT_BATCH_SIZE": "500", "X": "a=b"}
    with pytest.raises(SystemExit):
        settings_from(["no-equals-sign"])
