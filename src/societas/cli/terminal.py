"""What the CLI prints is inert: model and server text loses its control characters, and
nothing is read as rich markup.

A model's answer or a server's error body can hold escape sequences that clear the screen,
retitle the window, move the cursor or overwrite earlier lines (CR, backspace), and text in
square brackets that rich would take for markup (``[/x]`` is even an error). ``safe`` strips
the first; printing through ``plain`` (a rich ``Text``) avoids the second. Paths are printed
verbatim through ``plain``.
"""

from __future__ import annotations

import re
import unicodedata

from rich.text import Text

__all__ = ["plain", "safe"]

# ESC sequences: CSI (ESC [ ... final), OSC (ESC ] ... BEL or ESC \), DCS/SOS/PM/APC strings,
# and two-character escapes. C1 forms (0x9b CSI, 0x9d OSC, ...) are controls and go below.
_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI
    r"|\x1b[\]PX^_].*?(?:\x07|\x1b\\|$)"  # OSC, DCS, SOS, PM, APC (to their terminator)
    r"|\x1b[ -/]*[0-~]",  # other escapes (charset selection, keypad mode, ...)
    re.DOTALL,
)
_KEEP = frozenset("\n\t")
# Bidirectional overrides and isolates reorder what follows them on screen.
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")


def safe(text: str) -> str:
    """``text`` without escape sequences and control characters (newline and tab stay)."""
    text = _ESCAPES.sub("", text)
    return "".join(
        ch for ch in text if ch in _KEEP or (unicodedata.category(ch) != "Cc" and ch not in _BIDI)
    )


def plain(text: object, style: str = "") -> Text:
    """``str(text)`` as a rich ``Text``: printed as it is, never parsed as markup."""
    return Text(str(text), style=style)
