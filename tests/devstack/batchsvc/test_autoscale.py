"""Autoscale formulas: the variables, operators and functions a pool can evaluate here."""

from __future__ import annotations

import pytest

from devstack.batchsvc.autoscale import FormulaError, evaluate, targets_from

INPUTS = {
    "$PendingTasks": 7.0,
    "$ActiveTasks": 5.0,
    "$RunningTasks": 2.0,
    "$SucceededTasks": 0.0,
    "$FailedTasks": 0.0,
    "$CurrentDedicatedNodes": 1.0,
    "$CurrentLowPriorityNodes": 0.0,
    "$PreemptedNodeCount": 0.0,
    "$UsableNodeCount": 1.0,
    "$TargetDedicatedNodes": 1.0,
    "$TargetLowPriorityNodes": 0.0,
}


def test_the_documented_pending_tasks_formula_evaluates() -> None:
    formula = """
        // From the Batch documentation, sized down.
        $samples = $PendingTasks.GetSamplePercent(TimeInterval_Minute * 5);
        $tasks = $samples < 70 ? max(0, $PendingTasks.GetSample(1)) :
            max($PendingTasks.GetSample(1), avg($PendingTasks.GetSample(TimeInterval_Minute * 5)));
        $targetVMs = $tasks > 0 ? $tasks : max(0, $TargetDedicatedNodes / 2);
        $TargetDedicatedNodes = max(0, min($targetVMs, 4));
        $NodeDeallocationOption = taskcompletion;
    """

    result = evaluate(formula, INPUTS)

    assert targets_from(result, INPUTS) == (4, 0, "taskcompletion")
    assert result.text().startswith(
        "$TargetDedicatedNodes=4;$NodeDeallocationOption=taskcompletion"
    )


def test_spot_nodes_and_arithmetic() -> None:
    result = evaluate(
        "$TargetLowPriorityNodes = ceil($ActiveTasks / 2) + ($RunningTasks == 2 && 1);", INPUTS
    )

    assert targets_from(result, INPUTS) == (1, 4, "requeue")


@pytest.mark.parametrize(
    ("formula", "code"),
    [
        ("$TargetDedicatedNodes = $CPUPercent.GetSample(1);", "UnsupportedVariable"),
        ("$TargetDedicatedNodes = $notAssigned;", "UndefinedVariable"),
        ("$PendingTasks = 3;", "ReadOnlyVariable"),
        ("$TargetDedicatedNodes = 1 / 0;", "DivideByZero"),
        ("$TargetDedicatedNodes = percentile($PendingTasks, 50);", "UnsupportedFunction"),
        ("$NodeDeallocationOption = later;", "InvalidFormula"),
        ("$TargetDedicatedNodes = (1 + ;", "InvalidFormula"),
        ("", "InvalidFormula"),
    ],
)
def test_what_cannot_be_evaluated_is_named(formula: str, code: str) -> None:
    with pytest.raises(FormulaError) as raised:
        evaluate(formula, INPUTS)

    assert raised.value.code == code
