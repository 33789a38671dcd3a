"""A workflow's task graph as cytoscape.js elements, built on the server from linkages.

The browser only lays it out and draws it (cytoscape-dagre, left to right): building the
elements here keeps the rules testable -- a Start node; one node per task; one edge per
linkage, labelled with its type, from Start when it has no source task; tasks chained in
order when a workflow has no linkages at all (as the original drew them). A linkage that
points at a task the workflow does not have is left out and counted, never drawn loose.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from zwm.catalog.models import Linkage, Task

START = "start"

# How a node looks, by action type: decisions are diamonds (as in the original), each family of
# actions has its colour. Set on each node here so the browser maps nothing per node.
SHAPES = {
    "start": "round-rectangle",
    "Iterate": "diamond",
    "If": "diamond",
    "Logic::Case": "diamond",
    "Approval": "hexagon",
    "Delay": "ellipse",
}
COLOURS = {
    "start": "#37474f",
    "Email": "#1565c0",
    "Notifications::SMS": "#1565c0",
    "Export": "#2e7d32",
    "Callout": "#6a1b9a",
    "Query": "#00838f",
    "CustomObject::Query": "#00838f",
    "Create": "#283593",
    "Update": "#283593",
    "Iterate": "#ef6c00",
    "If": "#f9a825",
    "Logic::Case": "#f9a825",
    "Delay": "#757575",
    "Approval": "#ad1457",
}
DEFAULT_SHAPE, DEFAULT_COLOUR = "round-rectangle", "#546e7a"


def look(kind: str) -> dict[str, str]:
    return {"shape": SHAPES.get(kind, DEFAULT_SHAPE), "colour": COLOURS.get(kind, DEFAULT_COLOUR)}


def node_id(zuora_task_id: str) -> str:
    return f"task-{zuora_task_id}"


@dataclass
class Graph:
    nodes: list[dict[str, Any]] = field(default_factory=list)
    edges: list[dict[str, Any]] = field(default_factory=list)
    dangling: int = 0
    """Linkages left out because an end is not a task of this workflow."""

    def elements(self) -> dict[str, Any]:
        return {"nodes": self.nodes, "edges": self.edges, "dangling": self.dangling}


def build_graph(tasks: Iterable[Task], linkages: Iterable[Linkage]) -> Graph:
    """The graph of ``tasks`` and ``linkages``; a node's ``task`` is the task's primary key
    (clicking the node opens that task's panel)."""
    ordered = sorted(tasks, key=_task_order)
    graph = Graph(nodes=[{"data": {"id": START, "label": "Start", "kind": "start", **look("start")}}])
    known = set()
    for task in ordered:
        known.add(task.zuora_task_id)
        kind = task.action_type or "Task"
        graph.nodes.append(
            {
                "data": {
                    "id": node_id(task.zuora_task_id),
                    "label": task.name or task.zuora_task_id,
                    "kind": kind,
                    "task": task.pk,
                    **look(kind),
                }
            }
        )
    links = list(linkages)
    if not links:
        chain = [START, *(node_id(t.zuora_task_id) for t in ordered)]
        graph.edges = [
            {"data": {"id": f"e{i}", "source": a, "target": b, "label": ""}}
            for i, (a, b) in enumerate(itertools.pairwise(chain))
        ]
        return graph
    for i, link in enumerate(links):
        source = START if not link.source_task_id else node_id(link.source_task_id)
        if link.target_task_id not in known or (link.source_task_id and link.source_task_id not in known):
            graph.dangling += 1
            continue
        graph.edges.append(
            {
                "data": {
                    "id": f"e{i}",
                    "source": source,
                    "target": node_id(link.target_task_id),
                    "label": link.linkage_type,
                }
            }
        )
    return graph


def _task_order(task: Task) -> tuple[int, int, str]:
    """Zuora's numeric task ids in numeric order (2 before 10), any others after them."""
    tid = task.zuora_task_id
    return (0, int(tid), "") if tid.isdigit() else (1, 0, tid)
