"""The end of the demo: what each copy did, where each blob went, and whether that was the plan.

The verdict is data (`Check`), so the exit code and the printed lines come from one place.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich import box
from rich.console import JustifyMethod
from rich.table import Table
from rich.text import Text

from blobcopy.render import STATE_STYLES, format_bytes
from demo.follow import CopyRun


@dataclass(frozen=True)
class Check:
    """One copy's expected end, and whether the copy and its destination's bytes met it."""

    run: CopyRun
    expected_state: str
    bytes_ok: bool
    bytes_note: str

    @property
    def passed(self) -> bool:
        """The copy ended in the expected state and its destination holds what it should."""
        return self.run.state == self.expected_state and self.bytes_ok


def summary_table(checks: list[Check], *, roomy: bool = True) -> Table:
    """Copy, state, bytes, time, status polls, copy id: one row per copy.

    Not `roomy`, the columns are one space apart so the table fits an 80-column terminal.
    """
    table = Table(
        title="Summary",
        title_justify="left",
        caption="polls: how many times the demo read the copy's status (GET /api/copies/{id})",
        caption_justify="left",
        header_style="bold",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        padding=(0, 1, 0, 0) if roomy else 0,
    )
    for name in ("copy", "state", "bytes", "time", "polls", "copy id"):
        justify: JustifyMethod = "right" if name in ("bytes", "time", "polls") else "left"
        table.add_column(name, justify=justify, no_wrap=True)
    for check in checks:
        run = check.run
        table.add_row(
            run.label,
            Text(run.state, style=STATE_STYLES.get(run.state, "bold")),
            format_bytes(run.bytes_copied),
            f"{run.seconds:.1f} s",
            str(run.polls),
            run.copy_id,
        )
    return table


def where_it_went(check: Check) -> Text:
    """One line: source -> destination, and what the check of the destination found."""
    run = check.run
    line = Text(f"{run.label}: {run.source} -> {run.destination}: ")
    line.append(check.bytes_note, style="green" if check.bytes_ok else "red")
    return line


def verdict(checks: list[Check]) -> tuple[bool, str]:
    """(passed, one line): every copy ended as planned and the bytes say so."""
    wrong = [
        f"{c.run.label} ended {c.run.state} (expected {c.expected_state}; {c.bytes_note})"
        for c in checks
        if not c.passed
    ]
    if wrong:
        return False, "Demo FAILED: " + "; ".join(wrong) + "."
    ends = ", ".join(f"{c.run.label} {c.run.state}" for c in checks)
    return True, f"Demo OK: {ends}."
