"""Which conversions lead from a document's format to one a printer takes.

Each `Step` is one converter process (gateway/convert/tools.py names its command
line). `plan` finds the shortest chain; among chains of the same length the
target the printer renders best wins (`PREFERENCE`). Everything here is pure.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from gateway.convert.formats import (
    JPEG,
    PCL,
    PCLXL,
    PDF,
    PNG,
    POSTSCRIPT,
    PWG_RASTER,
    TEXT,
    URF,
    base,
)


@dataclass(frozen=True, slots=True)
class Step:
    """One conversion: ``tool`` turns ``source`` into ``target``."""

    source: str
    target: str
    tool: str


#: Every conversion the gateway has. Ghostscript reads PDF and PostScript alike,
#: so each of its output devices is a step from both. PDF -> PostScript is
#: poppler's pdftops (what cups-filters' pdftops filter can use too): as good
#: PostScript as Ghostscript's ps2write, and four times quicker to start.
STEPS: tuple[Step, ...] = (
    Step(TEXT, PDF, "texttopdf"),
    Step(JPEG, PDF, "imagetopdf"),
    Step(PNG, PDF, "imagetopdf"),
    Step(PWG_RASTER, PDF, "rastertopdf"),
    Step(URF, PDF, "rastertopdf"),
    Step(POSTSCRIPT, PDF, "gs-pdf"),
    Step(PDF, POSTSCRIPT, "pdftops"),
    *(
        Step(source, target, tool)
        for source in (PDF, POSTSCRIPT)
        for target, tool in (
            (PWG_RASTER, "gs-pwg"),
            (URF, "gs-urf"),
            (PCLXL, "gs-pclxl"),
            (PCL, "gs-pcl"),
        )
    ),
)

#: Targets in the order the printer renders them best: vector before raster,
#: a page description before a picture.
PREFERENCE: tuple[str, ...] = (PDF, POSTSCRIPT, PWG_RASTER, URF, PCLXL, PCL, JPEG, PNG, TEXT)


def _rank(mime: str) -> int:
    return PREFERENCE.index(mime) if mime in PREFERENCE else len(PREFERENCE)


def plan(source: str, accepted: Iterable[str]) -> tuple[Step, ...] | None:
    """The conversions from `source` to a format in `accepted`: () when the printer
    takes `source` as it is, None when no chain leads there."""
    source = base(source)
    targets = {base(a) for a in accepted}
    if source in targets:
        return ()
    best: tuple[Step, ...] | None = None
    seen = {source}
    frontier: deque[tuple[str, tuple[Step, ...]]] = deque([(source, ())])
    while frontier:
        node, path = frontier.popleft()
        if best is not None and len(path) >= len(best):
            break
        for step in STEPS:
            if step.source != node or step.target in seen:
                continue
            chain = (*path, step)
            if step.target in targets:
                if best is None or _rank(step.target) < _rank(best[-1].target):
                    best = chain
                continue
            frontier.append((step.target, chain))
        seen.update(step.target for step in STEPS if step.source == node)
    return best


def acceptable(accepted: Sequence[str]) -> tuple[str, ...]:
    """Every format a client may send to a printer that takes `accepted`: those,
    in their order, then what the gateway converts to one of them."""
    own = tuple(dict.fromkeys(base(a) for a in accepted))
    sources = dict.fromkeys(s.source for s in STEPS)
    more = tuple(s for s in sources if s not in own and plan(s, own) is not None)
    return own + more
