"""What the review service accepts as text, and how it shows stored text on a terminal.

Statements, notes, labels and ids end up on review pages, in logs and on operators' terminals
(`tripguard token list`). Characters that are instructions to whatever displays them rather than
text are refused: C0/C1 controls (NUL, ESC, CR, ...; multi-line text keeps TAB and LF), the
bidirectional embeddings, overrides and isolates that reorder what is shown (Trojan Source,
CVE-2021-42574), line separators in one-line text and unpaired surrogates. Text that is not
empty must show something: whitespace and zero-width characters alone are refused.

The rules are written once, as regex character classes: `check_text` scans with them (linear
time, with a message naming the character) and `schema_pattern` puts the same rule into the
OpenAPI spec (a test holds the two equal).
"""

from __future__ import annotations

import re
import unicodedata

_CONTROLS_BUT_TAB_LF = r"\x00-\x08\x0b-\x1f\x7f-\x9f"
_BIDI_CONTROLS = r"\u202a-\u202e\u2066-\u2069"
_LINE_SEPARATORS = r"\u2028\u2029"
_SURROGATES = r"\ud800-\udfff"
REFUSED = {
    False: r"\t\n" + _CONTROLS_BUT_TAB_LF + _LINE_SEPARATORS + _BIDI_CONTROLS,  # one line
    True: _CONTROLS_BUT_TAB_LF + _BIDI_CONTROLS,  # multi-line
}
# Whitespace (str.isspace) and the characters that show nothing: zero-width space, joiners and
# marks, word joiner, invisible operators, soft hyphen, fillers, variation selectors, BOM.
INVISIBLE = (
    r"\t\n\x0b-\x0d\x1c-\x20\x85\xa0\xad\u034f\u061c\u115f\u1160\u1680\u17b4\u17b5\u180b-\u180f"
    r"\u2000-\u200f\u2028-\u202f\u205f-\u2064\u206a-\u206f\u3000\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff9-\ufffb"
)

# Unpaired surrogates are refused as well, but stay out of the spec's pattern: JSON Schema works
# on Unicode scalar values, and its regex engines refuse a surrogate range.
_REFUSED_RE = {multiline: re.compile(f"[{cls}{_SURROGATES}]") for multiline, cls in REFUSED.items()}
_VISIBLE_RE = {multiline: re.compile(f"[^{cls}{INVISIBLE}]") for multiline, cls in REFUSED.items()}


def schema_pattern(multiline: bool = False, required: bool = False) -> str:
    """The rule of `check_text` as a JSON Schema `pattern` (documentation, and what schemathesis
    generates from), for text without unpaired surrogates."""
    allowed, visible = f"[^{REFUSED[multiline]}]", f"[^{REFUSED[multiline]}{INVISIBLE}]"
    some = f"{allowed}*{visible}{allowed}*"
    return f"^{some}$" if required else f"^(?:{some})?$"


def _what(ch: str) -> str:
    category = unicodedata.category(ch)
    if category == "Cc":
        return "a control character"
    if category == "Cs":
        return "an unpaired surrogate, not valid Unicode text"
    if category in ("Zl", "Zp"):
        return "a line separator"
    return "a bidirectional override, embedding or isolate"


def check_text(v: str, *, multiline: bool = False, required: bool = False) -> str:
    """`v` when it is acceptable, else ValueError saying why (pydantic makes it a 422 naming the
    field). Empty text passes unless `required` (lengths are the fields' own constraints)."""
    bad = _REFUSED_RE[multiline].search(v)
    if bad:
        raise ValueError(f"contains U+{ord(bad.group()):04X}, {_what(bad.group())}")
    if (v or required) and not _VISIBLE_RE[multiline].search(v):
        raise ValueError(
            "must not be blank: it has no visible character"
            if required
            else "has no visible character: leave it empty or write something"
        )
    return v


def one_line(v: str) -> str:
    """A label: one line, empty or with something visible."""
    return check_text(v)


def identifier(v: str) -> str:
    """An id, a filter value: one line with something visible."""
    return check_text(v, required=True)


def statement(v: str) -> str:
    return check_text(v, multiline=True, required=True)


def note(v: str) -> str:
    return check_text(v, multiline=True)


def _escape(ch: str) -> str:
    o = ord(ch)
    return f"\\x{o:02x}" if o <= 0xFF else f"\\u{o:04x}" if o <= 0xFFFF else f"\\U{o:08x}"


_SHOWN_ESCAPED = re.compile(f"[\\\\{REFUSED[False]}{_SURROGATES}{INVISIBLE}]")


def _shown(ch: str) -> str:
    return ch if ch == " " else "\\\\" if ch == "\\" else _escape(ch)


def visible(v: str) -> str:
    """Stored text made safe for a terminal: every refused or invisible character except the
    plain space as an escape (ESC as \\x1b, U+202E as \\u202e), backslashes doubled so that
    the result is unambiguous."""
    return _SHOWN_ESCAPED.sub(lambda m: _shown(m.group()), v)
