"""Find the smallest set of nodes to keep float so that an INT8 model meets its accuracy budget.

Every configuration is measured, never estimated: ``measure(float_nodes)`` quantises the model with
those nodes (on top of the always-float ones) left float and compares it with FP32 on held-out images
(a :func:`compare_to_fp32` dict plus ``int8_nodes``: how many nodes still read INT8 inputs).

1. The starting configuration (only the always-float nodes float). Within budget: done.
2. Sensitivity: each candidate (a node that reads INT8 inputs) is put back to float alone; its
   *harm* is how much rounding error (:func:`rounding_error`) that removes. For the digits student
   the stem convolution feeding the projection is the one whose rounding changes the neighbour sets.
3. Greedy: candidates go float in order of measured benefit (the lowest remaining budget shortfall,
   then the largest harm) until the budget holds.
4. Pruning: each chosen node, least harmful first, is quantised again if the budget still holds
   without it, so no node stays float that the budget does not need.

A configuration the fallback makes must leave some node reading INT8 inputs (``int8_nodes`` > 0;
ONNX Runtime only quantises a pass-through op such as ReduceSum after a quantised producer, so
floating one node can float its neighbours too): a model with every node float is no INT8 model.
The best configuration seen is returned either way, with whether it meets the budget.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from cnn2gnn.calibration.accuracy_budget import AccuracyBudget, rounding_error


@dataclass
class FallbackResult:
    float_nodes: list[str]  # the chosen extra float nodes, in the order they were chosen
    comparison: dict[str, Any]  # the chosen configuration's measurement
    within_budget: bool
    baseline: dict[str, Any]  # the starting configuration's measurement
    sensitivity: dict[str, dict[str, Any]] = field(default_factory=dict)  # node -> measured harm
    trials: list[dict[str, Any]] = field(default_factory=list)  # every configuration measured

    def to_dict(self, budget: AccuracyBudget) -> dict[str, Any]:
        return {
            "float_nodes": self.float_nodes,
            "within_budget": self.within_budget,
            "violations": budget.violations(self.comparison),
            "baseline": self.baseline,
            "baseline_violations": budget.violations(self.baseline),
            "sensitivity": self.sensitivity,
            "configurations_measured": len(self.trials),
            "trials": self.trials,
        }


def _harm(baseline: dict[str, Any], with_node_float: dict[str, Any]) -> dict[str, Any]:
    """What quantising one node costs: the change its going float makes to each measured number."""
    neighbours = with_node_float.get("neighbour_agreement")
    return {
        "rounding_error_removed": rounding_error(baseline) - rounding_error(with_node_float),
        "top1_agreement_gain": with_node_float["top1_agreement"] - baseline["top1_agreement"],
        "neighbour_agreement_gain": None if neighbours is None else neighbours - baseline["neighbour_agreement"],
        "accuracy_drop_reduction_points": baseline["accuracy_drop_points"] - with_node_float["accuracy_drop_points"],
        "measured_with_it_float": {k: with_node_float[k] for k in (
            "accuracy_drop_points", "top1_agreement", "neighbour_agreement")},
    }


def search_float_fallback(
    candidates: list[str],
    measure: Callable[[list[str]], dict[str, Any]],
    budget: AccuracyBudget,
    progress: Callable[[], object] | None = None,
) -> FallbackResult:
    """The smallest measured set of ``candidates`` to keep float for ``budget`` (see the module doc)."""
    cache: dict[frozenset[str], dict[str, Any]] = {}
    trials: list[dict[str, Any]] = []

    def run(nodes: list[str]) -> dict[str, Any]:
        key = frozenset(nodes)
        if key not in cache:
            cache[key] = measure(sorted(key))
            trials.append({"float_nodes": sorted(key), "shortfall": budget.shortfall(cache[key]),
                           **{k: cache[key][k] for k in ("accuracy_drop_points", "top1_agreement",
                                                         "neighbour_agreement", "int8_nodes")}})
            if progress is not None:  # one call per configuration measured
                progress()
        return cache[key]

    def within(nodes: list[str]) -> bool:
        return run(nodes)["int8_nodes"] > 0 and not budget.violations(run(nodes))

    baseline = run([])
    if not budget.violations(baseline) or not candidates:
        return FallbackResult([], baseline, not budget.violations(baseline), baseline, {}, trials)

    sensitivity = {node: _harm(baseline, run([node])) for node in candidates}
    order = sorted(candidates, key=lambda n: (budget.shortfall(run([n])), -sensitivity[n]["rounding_error_removed"]))
    chosen: list[str] = []
    for node in order:
        chosen.append(node)
        if within(chosen):
            break
    if within(chosen):
        for node in reversed(list(chosen)):
            fewer = [n for n in chosen if n != node]
            if within(fewer):
                chosen = fewer
    else:  # nothing met the budget: report the best configuration measured
        mixed = [key for key in cache if cache[key]["int8_nodes"] > 0] or [frozenset()]
        best = min(mixed, key=lambda key: (budget.shortfall(cache[key]), rounding_error(cache[key]), len(key)))
        chosen = [n for n in order if n in best]
    return FallbackResult(chosen, run(chosen), within(chosen), baseline, sensitivity, trials)
