"""An Explanation as the Markdown shown in editors and printed by `codepager explain`."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from codepager.context.explain import Call, Explanation, Location

SHOWN = 10  # locations listed per section before "+N more"


def render_markdown(explanation: Explanation) -> str:
    e = explanation
    if e.definition is None:
        lines = [f"`{e.name}`: no definition found in the repository index."]
        if e.reference_count:
            lines += ["", _references(e)]
        return "\n".join(lines)
    where = f"{e.definition.path}:{e.definition.line}"
    span = f"-{e.end_line}" if e.end_line > e.definition.line else ""
    lines = [f"**{e.kind} `{e.name}`** — defined at `{where}`{span}", ""]
    if e.signature:
        lines += ["```", e.signature, "```", ""]
    if e.docstring:
        lines += [e.docstring, ""]
    if e.other_definitions:
        lines += [f"Also defined at: {_locations(e.other_definitions, len(e.other_definitions))}", ""]
    if e.calls:
        uses = ", ".join(_call(c) for c in e.calls[:3 * SHOWN])
        lines += [f"**Calls / uses** ({len(e.calls)}): {uses}", ""]
    lines += [_references(e), ""]
    lines += _history(e)
    if e.prose:
        lines += ["", "---", "", e.prose.strip()]
    return "\n".join(lines).rstrip() + "\n"


def _references(e: Explanation) -> str:
    if not e.reference_count:
        return "No references found in the repository."
    others = [r for r in e.references if (r.path, r.line, r.column) not in
              {(c.path, c.line, c.column) for c in e.callers}]
    other_count = e.reference_count - e.caller_count
    parts = []
    if e.caller_count:
        parts.append(f"**Called from** {e.caller_count} place(s): {_locations(e.callers, e.caller_count)}")
    if other_count:
        parts.append(f"**Other references** ({other_count}): {_locations(others, other_count)}")
    return f"{e.reference_count} reference(s) in the repository.\n" + "\n".join(f"- {p}" for p in parts)


def _history(e: Explanation) -> list[str]:
    if e.history_note:
        return [f"_History: {e.history_note}_"]
    if not e.history:
        return []
    lines = ["**Recent history**:"]
    lines += [f"- `{c.short_sha}` {c.date} {c.author} — {c.subject}" for c in e.history]
    return lines


def _call(call: Call) -> str:
    times = f" ×{call.count}" if call.count > 1 else ""
    if call.definition is None:
        return f"`{call.name}`{times}"
    return f"`{call.name}`{times} → `{call.definition.path}:{call.definition.line}`"


def _locations(locations: list[Location], total: int) -> str:
    shown = ", ".join(f"`{r.path}:{r.line}`" + (f" (in `{r.symbol}`)" if r.symbol else "")
                      for r in locations[:SHOWN])
    more = f" (+{total - SHOWN} more)" if total > SHOWN else ""
    return shown + more
