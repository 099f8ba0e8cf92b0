"""Abbreviations and what they stand for: "CSS" / "Cascading Style Sheets", "WWII" /
"World War II", "JS" / "JavaScript", "PTO" / "paid time off".

WordNet lists few of them (it has "US" / "United States", not "CSS" or "PTO"), and
the pair encoder reads an expansion as a different question (session 12's first
held-out file: CSS / Cascading Style Sheets scored 0.06, WWII / World War II 0.33).
An acronym is recognisable from its letters alone, so this is a rule about spelling,
not a list: the short form's letters are the initials of the long form's words,
a capitalised part of a compound word counting as a word ("JavaScript": J, S), so
does each part of a hyphenated one ("solid-state drive": SSD; since session 17), and a
Roman numeral counting whole ("II"); the small words of a name may be left out
("Member of Parliament": MP). On the written train split it matches 23 spans, all in
same-answer pairs.
"""

from __future__ import annotations

import re

# A short form: one word of 2-6 letters (periods aside), at least two of them capitals.
_SHORT = re.compile(r"^[A-Za-z]{2,6}$")
# The parts of a compound word: "JavaScript" -> Java, Script; "iPhone" -> i, Phone.
_PARTS = re.compile(r"[A-Z][a-z]+|[A-Z]+(?![a-z])|[a-z]+|\d+")
_ROMAN = re.compile(r"^(?=[IVX]+$)X{0,3}(IX|IV|V?I{0,3})$")


def _initials(words: list[str]) -> str:
    out = []
    for word in (part for w in words for part in w.split("-")):
        word = word.strip(".")
        if not word:
            continue
        if _ROMAN.match(word):
            out.append(word.lower())
            continue
        parts = _PARTS.findall(word)
        if len(parts) > 1 and all(p[0].isupper() for p in parts):
            out.extend(p[0].lower() for p in parts)
        else:
            out.append(word[0].lower())
    return "".join(out)


def abbreviates(short: str, long: str) -> bool:
    """`short` is an acronym or initialism of `long`: "NYC" / "New York City", "WWII" /
    "World War II", "JS" / "JavaScript" (its letters, lower-cased, are the initials of
    the long form's words, or of its capitalised words when it has lower-case ones
    too: "MP" / "Member of Parliament", "DVLA" / "Driver and Vehicle Licensing
    Agency")."""
    letters = short.replace(".", "")
    if not _SHORT.match(letters) or sum(c.isupper() for c in letters) < 2:
        return False
    words = long.split()
    capitalised = [w for w in words if w[:1].isupper()]
    readings = [_initials(words)]
    if 2 <= len(capitalised) < len(words):
        readings.append(_initials(capitalised))
    return any(len(r) >= 2 and letters.lower() == r for r in readings)
