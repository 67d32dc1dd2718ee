"""Find the student's graph path in an exported ONNX graph: the nodes INT8 should leave in float.

The graph path is projection -> squared distances to the anchors -> TopK -> neighbour weights and
the Gather of the anchors' messages. Quantising it lets rounding reorder near-tied distances, which
changes a sample's neighbours (the method notes and the export notes both saw this), so by default
these nodes go to ``quantize_static(nodes_to_exclude=...)``.

The nodes are found by the graph's structure, never by their names (exporters rename nodes freely):

1. *Constant* tensors are initializers, ``Constant`` outputs, and the outputs of nodes whose inputs
   are all constant (e.g. ``1 - sigmoid(alpha)`` when the exporter did not fold it).
2. The *seed* nodes are the TopK nodes whose input depends on the model input (a TopK over constants
   only, such as an unfolded anchor-side graph, is no sample's neighbour search), and the node producing
   the ``novelty`` output: its cosines to every anchor would otherwise be rounded to 8 bits, and the
   open-set threshold chosen on the float model would no longer hold.
3. Backwards: starting from the seeds, a producer joins the path when every consumer of every one of
   its outputs is already on the path. This climbs distances (a Gemm against the anchors, or
   MatMul/ReduceSum) -> the projection Gemm and stops at the node features, which the GCN layers also
   read; from the novelty, it climbs its MatMul against the anchors and the normalisation and stops at the
   hidden features the last layer also reads. A consumer that reads nothing but the producer's own outputs
   does not hold the producer back: step 4 brings it along. Repeated to a fixed point.
4. Forwards: a consumer joins the path when each of its non-constant inputs comes from the path. This
   takes the weight math (Slice/Sub/Add/ReduceSum/Div), the index Slice and its int32 Cast, the Gather of
   the anchors' messages and the weighted sum, and stops at the node that mixes in the sample's own transform
   (the GCN layer's Gemm, which also reads the node features).
   Steps 3 and 4 repeat until nothing joins. Constant-only nodes that serve the path alone (e.g. an
   unfolded transpose of the anchors' projections) join it by step 3.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from cnn2gnn.contracts.anchor_bank import NOVELTY


@dataclass(frozen=True)
class GraphPath:
    """The graph-path nodes of one model: names (as ``nodes_to_exclude`` wants them) and op types."""

    topk_nodes: list[str]
    nodes: list[str]  # every graph-path node name, in graph order
    op_types: dict[str, str]


def ensure_node_names(model: Any) -> int:
    """Give every unnamed or duplicate-named node of ``model`` a unique name, in place; returns how many.

    ``nodes_to_exclude`` matches nodes by name, and exporters and optimisers may leave names empty.
    """
    seen: set[str] = set()
    renamed = 0
    for i, node in enumerate(model.graph.node):
        if not node.name or node.name in seen:
            base = f"{node.op_type}_{i}"
            name = base
            while name in seen:
                name += "_"
            node.name = name
            renamed += 1
        seen.add(node.name)
    return renamed


def constant_tensors(graph: Any) -> set[str]:
    """Tensors whose value does not depend on any graph input (the nodes are in topological order)."""
    # An initializer also listed as a graph input can be overridden at run time: not a constant.
    const = {init.name for init in graph.initializer} - {i.name for i in graph.input}
    const.add("")  # an omitted optional input
    for node in graph.node:
        if node.op_type == "Constant" or all(t in const for t in node.input):
            const.update(node.output)
    return const


def find_graph_path(model: Any) -> GraphPath:
    """The graph-path nodes of ``model`` (an ``onnx.ModelProto``); empty for a model without TopK (a teacher).

    Node names must be unique and non-empty (see :func:`ensure_node_names`).
    """
    graph = model.graph
    nodes = list(graph.node)
    const = constant_tensors(graph)
    producer: dict[str, Any] = {}
    consumers: dict[str, list[Any]] = defaultdict(list)
    for node in nodes:
        for t in node.output:
            producer[t] = node
        for t in node.input:
            if t:
                consumers[t].append(node)
    graph_outputs = {o.name for o in graph.output}

    seeds = [n for n in nodes if n.op_type == "TopK" and n.input[0] not in const]
    on_path: set[str] = {n.name for n in seeds}
    if NOVELTY in producer and NOVELTY not in const:
        on_path.add(producer[NOVELTY].name)

    def live(node: Any) -> set[str]:
        return {t for t in node.input if t and t not in const}

    def all_consumers_on_path(node: Any) -> bool:
        # A consumer reading only this node's outputs follows it onto the path by step 4, so it does not
        # keep the node off.
        return all(
            t not in graph_outputs and all(c.name in on_path or live(c) <= set(node.output) for c in consumers[t])
            for t in node.output
        )

    changed = True
    while changed:
        changed = False
        # Backwards (3): producers serving the path only.
        for node in reversed(nodes):
            if node.name in on_path or node.op_type == "Constant":
                continue
            feeds_path = any(c.name in on_path for t in node.output for c in consumers[t])
            if feeds_path and all_consumers_on_path(node):
                on_path.add(node.name)
                changed = True
        # Forwards (4): consumers whose non-constant inputs all come from the path.
        path_tensors = {t for n in nodes if n.name in on_path for t in n.output}
        for node in nodes:
            if node.name in on_path or node.op_type == "Constant":
                continue
            reads = live(node)
            if reads and reads <= path_tensors:
                on_path.add(node.name)
                path_tensors.update(node.output)
                changed = True

    ordered = [n for n in nodes if n.name in on_path]
    return GraphPath(
        topk_nodes=[n.name for n in seeds],
        nodes=[n.name for n in ordered],
        op_types={n.name: n.op_type for n in ordered},
    )
