"""The circuit as an SVG diagram: a layered layout drawn by hand (no graphviz needed).

Approvals go down the page; rejections are dashed red curves; the current step, if a run state is
given, is outlined in orange and the states already visited are shaded.
"""

from __future__ import annotations

from collections.abc import Mapping
from xml.sax.saxutils import escape

from parapheur.circuits.definition import Circuit, State
from parapheur.circuits.engine import RunState

BOX_W, BOX_H = 210, 70
GAP_X, GAP_Y = 60, 70
MARGIN = 30
_OUTCOME_LABEL = {"approved": "fin : approuvé", "rejected": "fin : rejeté",
                  "cancelled": "fin : abandonné"}
_FILL = {"approved": "#e3f4e1", "rejected": "#fbe3e1", "cancelled": "#eeeeee"}


def layers(circuit: Circuit) -> list[list[str]]:
    """States by layer: longest approval path from the initial state; final states at the bottom."""
    forward = {name: [b.target for b in s.next] for name, s in circuit.states.items()}
    # Drop back edges (DFS) so the approval graph becomes acyclic, then take longest paths.
    order: list[str] = []
    seen: set[str] = set()
    back: set[tuple[str, str]] = set()

    def visit(name: str, path: set[str]) -> None:
        seen.add(name)
        path.add(name)
        for target in forward.get(name, []):
            if target in path:
                back.add((name, target))
            elif target not in seen:
                visit(target, path)
        path.discard(name)
        order.append(name)

    visit(circuit.initial, set())
    for name in sorted(circuit.states, key=lambda n: circuit.states[n].line):
        if name not in seen:
            visit(name, set())
    depth = {name: 0 for name in circuit.states}
    for name in reversed(order):  # topological order of the acyclic part
        for target in forward.get(name, []):
            if (name, target) not in back:
                depth[target] = max(depth[target], depth[name] + 1)
    working = [n for n, s in circuit.states.items() if not s.is_final]
    bottom = max((depth[n] for n in working), default=0) + 1
    for name, state in circuit.states.items():
        if state.is_final:
            depth[name] = bottom
    result: list[list[str]] = [[] for _ in range(max(depth.values()) + 1)]
    for name in sorted(circuit.states, key=lambda n: circuit.states[n].line):
        result[depth[name]].append(name)
    return [layer for layer in result if layer]


def _who(state: State, desk_labels: Mapping[str, str]) -> str:
    actor = state.actor
    if actor is None:
        return ""
    if actor.kind == "author":
        return "l'auteur"
    if actor.kind == "metadata":
        return f"bureau de « {actor.field} »"
    if actor.kind == "system":
        return "automatique"
    names = ", ".join(desk_labels.get(d, d) for d in actor.desks)
    if actor.mode == "all":
        return f"tous : {names}"
    if actor.mode == "any":
        return f"l'un de : {names}"
    return names


def _clip(text: str, limit: int = 30) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def render_svg(circuit: Circuit, state: RunState | None = None, *,
               desk_labels: Mapping[str, str] | None = None) -> str:
    """The circuit as a standalone SVG document; `state` highlights the current step."""
    desk_labels = desk_labels or {}
    rows = layers(circuit)
    width = max(len(row) for row in rows) * (BOX_W + GAP_X) - GAP_X + 2 * MARGIN + 220
    height = len(rows) * (BOX_H + GAP_Y) - GAP_Y + 2 * MARGIN
    pos: dict[str, tuple[float, float]] = {}
    for r, row in enumerate(rows):
        row_width = len(row) * (BOX_W + GAP_X) - GAP_X
        x0 = 100 + (width - 220 - row_width) / 2
        for c, name in enumerate(row):
            pos[name] = (x0 + c * (BOX_W + GAP_X), MARGIN + r * (BOX_H + GAP_Y))
    visited = set(state.trail) if state is not None else set()
    current = state.current if state is not None else None

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
           f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="DejaVu Sans, sans-serif" '
           f'font-size="12" role="img" aria-label="{escape(circuit.title, {chr(34): "&quot;"})}">',
           f"<title>{escape(circuit.title)}</title>",
           '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
           'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
           'fill="#444"/></marker><marker id="arrow-red" viewBox="0 0 10 10" refX="10" refY="5" '
           'markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path '
           'd="M0,0 L10,5 L0,10 z" fill="#c0392b"/></marker></defs>']
    lane = 0
    boxes = list(pos.values())
    for name, s in circuit.states.items():
        for branch in s.next:
            label = f"si {branch.guard}" if branch.guard is not None else (
                "sinon" if len(s.next) > 1 else "")
            out.append(_edge(pos[name], pos[branch.target], label, rejected=False, lane=lane,
                             boxes=boxes))
            lane += 1
        # Rejections ending the run are written in the box; only returns to a step are drawn.
        if s.on_reject is not None and not circuit.states[s.on_reject].is_final:
            out.append(_edge(pos[name], pos[s.on_reject], "rejet", rejected=True, lane=lane,
                             boxes=boxes))
            lane += 1
    for name, s in circuit.states.items():
        target = circuit.states.get(s.on_reject) if s.on_reject else None
        reject_label = target.label if target is not None and target.is_final else None
        out.append(_box(s, pos[name], desk_labels, current=name == current,
                        visited=name in visited, reject_label=reject_label))
    out.append("</svg>")
    return "\n".join(out)


def _crosses(x1: float, y1: float, x2: float, y2: float, box: tuple[float, float]) -> bool:
    """Whether the segment passes through the box (sampled: boxes are large, lines short)."""
    bx, by = box
    for i in range(1, 40):
        t = i / 40
        x, y = x1 + (x2 - x1) * t, y1 + (y2 - y1) * t
        if bx - 4 <= x <= bx + BOX_W + 4 and by - 4 <= y <= by + BOX_H + 4:
            return True
    return False


def _edge(src: tuple[float, float], dst: tuple[float, float], label: str, *, rejected: bool,
          lane: int, boxes: list[tuple[float, float]]) -> str:
    stroke = "#c0392b" if rejected else "#444"
    marker = "arrow-red" if rejected else "arrow"
    dash = ' stroke-dasharray="5,4"' if rejected else ""
    sx, sy = src
    dx, dy = dst
    if dy > sy:  # downwards: bottom centre to top centre
        x1, y1 = sx + BOX_W / 2, sy + BOX_H
        x2, y2 = dx + BOX_W / 2, dy
        between = [b for b in boxes if sy < b[1] < dy]
        if any(_crosses(x1, y1, x2, y2, b) for b in between):
            # Skipping a layer: swing out to the left of the boxes it would cross.
            x1, x2 = sx + 30, dx + 30
            cx = min(b[0] for b in between) - 75 - (lane % 4) * 12
            path = (f"M{x1:.1f},{y1:.1f} C{cx:.1f},{y1 + GAP_Y:.1f} {cx:.1f},{y2 - GAP_Y:.1f} "
                    f"{x2:.1f},{y2:.1f}")
            lx, ly = cx + 30, (y1 + y2) / 2
        else:
            path = f"M{x1:.1f},{y1:.1f} L{x2:.1f},{y2:.1f}"
            lx, ly = x1 + (x2 - x1) * 0.35 + 4, y1 + (y2 - y1) * 0.35
    else:  # back or sideways: a curve out to the right of both boxes
        bulge = 40 + (lane % 4) * 14
        x1, y1 = sx + BOX_W, sy + BOX_H / 2
        x2, y2 = dx + BOX_W, dy + BOX_H / 2
        cx = max(x1, x2) + bulge
        path = f"M{x1:.1f},{y1:.1f} C{cx:.1f},{y1:.1f} {cx:.1f},{y2:.1f} {x2:.1f},{y2:.1f}"
        # A cubic with both controls at cx peaks at 3/4 of the way: label just right of it.
        lx, ly = max(x1, x2) + bulge * 0.75 + 4, (y1 + y2) / 2 + 4
    parts = [f'<path d="{path}" fill="none" stroke="{stroke}" stroke-width="1.4"{dash} '
             f'marker-end="url(#{marker})"/>']
    if label:
        # Long guards are clipped on the drawing; the full text shows on hover.
        parts.append(f"<title>{escape(label)}</title>")
        parts.append(f'<text x="{lx:.1f}" y="{ly:.1f}" fill="{stroke}" font-size="10">'
                     f"{escape(_clip(label, 32))}</text>")
    return f'<g class="edge{" reject" if rejected else ""}">{"".join(parts)}</g>'


def _box(state: State, at: tuple[float, float], desk_labels: Mapping[str, str], *,
         current: bool, visited: bool, reject_label: str | None) -> str:
    x, y = at
    extra = ""
    if state.is_final:
        fill = _FILL.get(state.outcome or "", "#eeeeee")
        detail = _OUTCOME_LABEL.get(state.outcome or "", "")
        if state.external_status:
            detail += f" ({state.external_status})"
        rx = BOX_H / 2
    else:
        fill = "#dbe9f6" if visited else "#ffffff"
        detail = f"{state.action} · {_who(state, desk_labels)}"
        if state.deadline is not None:
            detail += f" · {state.deadline}"
        rx = 6
        if state.on_reject is not None and reject_label:
            extra = f"rejet → {reject_label}"
    stroke, stroke_width = ("#e67e22", 3.5) if current else ("#2c3e50", 1.2)
    classes = "state" + (" current" if current else "") + (" visited" if visited else "")
    return (f'<g class="{classes}" id="state-{escape(state.name)}">'
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{BOX_W}" height="{BOX_H}" rx="{rx:.0f}" '
            f'fill="{fill}" stroke="{stroke}" stroke-width="{stroke_width}"/>'
            f'<text x="{x + BOX_W / 2:.1f}" y="{y + 22:.1f}" text-anchor="middle" '
            f'font-weight="bold">{escape(_clip(state.label))}</text>'
            f'<text x="{x + BOX_W / 2:.1f}" y="{y + 40:.1f}" text-anchor="middle" '
            f'font-size="10" fill="#555">{escape(_clip(detail, 38))}</text>'
            + (f'<text x="{x + BOX_W / 2:.1f}" y="{y + 58:.1f}" text-anchor="middle" '
               f'font-size="10" fill="#c0392b">{escape(_clip(extra, 38))}</text>' if extra else "")
            + "</g>")
