"""Results as a person reads them (aligned tables, one line per action) or as
a script reads them (one JSON document on stdout).

Why here and pure: rendering is the part people and scripts depend on most,
so it is tested on its own without a server.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

#: (heading, key, right-aligned) of the `queues` table.
QUEUE_COLUMNS = (
    ("NAME", "name", False),
    ("ID", "printer_id", True),
    ("STATE", "state", False),
    ("ACCEPTING", "accepting", False),
    ("JOBS", "jobs", True),
    ("BACKEND", "backend", False),
    ("LOCATION", "location", False),
)

#: (heading, key, right-aligned) of the `jobs` table.
JOB_COLUMNS = (
    ("ID", "id", True),
    ("QUEUE", "queue", False),
    ("USER", "user", False),
    ("NAME", "name", False),
    ("STATE", "state", False),
    ("SIZE", "k_octets", True),
    ("PAGES", "pages", True),
    ("CREATED", "created", False),
)


def cell(key: str, value: Any) -> str:
    """How one value is shown in a table cell."""
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if key == "k_octets":
        return f"{value}k"
    if key == "created" and isinstance(value, int):
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(value))
    return str(value).replace("\n", " ")


def table(columns: Sequence[tuple[str, str, bool]], rows: Sequence[Mapping[str, Any]]) -> str:
    """An aligned table: a heading line, then one line per row (two spaces between
    columns; numbers right-aligned; no trailing blanks)."""
    cells = [[cell(key, row.get(key)) for _, key, _ in columns] for row in rows]
    widths = [
        max(len(heading), *(len(line[i]) for line in cells)) if cells else len(heading)
        for i, (heading, _, _) in enumerate(columns)
    ]
    lines = []
    for line in [[heading for heading, _, _ in columns], *cells]:
        parts = [
            text.rjust(width) if right else text.ljust(width)
            for text, width, (_, _, right) in zip(line, widths, columns, strict=True)
        ]
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines) + "\n"


def queues_text(queues: Sequence[Mapping[str, Any]]) -> str:
    return table(QUEUE_COLUMNS, queues)


def jobs_text(jobs: Sequence[Mapping[str, Any]]) -> str:
    return table(JOB_COLUMNS, jobs) if jobs else "no jobs\n"


def action_text(result: Mapping[str, Any]) -> str:
    """One line saying what an action did."""
    operation = result["operation"]
    if operation == "add":
        started = ", started" if result.get("started") else " (stopped: run resume and enable)"
        return (
            f"queue {result['queue']} added (printer-id {result['printer_id']}) -> "
            f"{result['backend']}{started}\n"
        )
    if operation == "remove":
        return f"queue {result['queue']} removed\n"
    if operation == "move":
        return f"job {result['job']} moved to {result['queue']}\n"
    if "job" in result:
        done = {"cancel": "canceled", "hold": "held", "release": "released"}[operation]
        return f"job {result['job']} {done}\n"
    switched = {"pause": "paused", "resume": "resumed", "enable": "enabled", "disable": "disabled"}
    return f"queue {result['queue']} {switched[operation]}\n"


def json_document(data: Any) -> str:
    """One JSON document, newline-terminated."""
    return json.dumps(data, indent=2, sort_keys=True) + "\n"
