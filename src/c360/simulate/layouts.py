"""Fixed-width record layouts of the mainframe extracts.

Mainframe files carry no delimiters: a field is known only by its position, so the layout is
the file's schema. It lives here, in one place, for the simulator that writes the file and the
connector configuration that reads it, and is written beside the data as ``LAYOUT.txt``.
"""

from __future__ import annotations

# (field name, 1-based start column, width)
CARD_LAYOUT: list[tuple[str, int, int]] = [
    ("card_id", 1, 16),
    ("disp_id", 17, 10),
    ("type", 27, 10),
    ("issued_datetime", 37, 26),
]

# How each field is padded: numbers right-aligned with leading zeros, text left-aligned with spaces.
CARD_ALIGN: dict[str, str] = {
    "card_id": "right0",
    "disp_id": "right0",
    "type": "left",
    "issued_datetime": "left",
}


def record_width(layout: list[tuple[str, int, int]]) -> int:
    """Total characters per line, newline excluded."""
    return max(start - 1 + width for _, start, width in layout)


def layout_text(layout: list[tuple[str, int, int]], align: dict[str, str], title: str) -> str:
    """The layout as a table a person can read (and a parser can take apart)."""
    lines = [
        title,
        f"record length: {record_width(layout)} characters, one record per line, no header",
        "",
        f"{'field':<20}{'start':>6}{'width':>6}{'end':>6}  alignment",
    ]
    for name, start, width in layout:
        how = {"right0": "right, zero-filled", "left": "left, space-filled"}[align[name]]
        lines.append(f"{name:<20}{start:>6}{width:>6}{start + width - 1:>6}  {how}")
    return "\n".join(lines) + "\n"
