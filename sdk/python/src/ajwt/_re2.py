"""Substitution patterns are RE2 syntax (the Go IdP parses them with
regexp/syntax.Perl). This module translates RE2 to an equivalent Python
``re`` expression, refusing what RE2 refuses (back references, look-around,
nested repetition, repeat counts above 1000) so that a value passes here
exactly when it passes in Go.

Python's ``re`` differs from RE2 where the translation takes care: ``\\d``,
``\\w``, ``\\s`` and ``\\b`` are ASCII in RE2; ``x{,3}`` is a literal in RE2;
``\\p{…}`` classes do not exist in ``re`` (general categories are built from
``unicodedata``). Unicode scripts (``\\p{Greek}``) are valid RE2 and accepted
in specifications, but :func:`compile_re2` refuses them: Python has no script
data. So does a ``(?flags)`` group that is not at the start of the pattern.
"""

from __future__ import annotations

import functools
import re
import sys
import unicodedata

_WORD = "0-9A-Za-z_"
_PERL_SPACE = "\\t\\n\\f\\r "
_POSIX = {
    "alnum": [(0x30, 0x39), (0x41, 0x5A), (0x61, 0x7A)],
    "alpha": [(0x41, 0x5A), (0x61, 0x7A)],
    "ascii": [(0x00, 0x7F)],
    "blank": [(0x09, 0x09), (0x20, 0x20)],
    "cntrl": [(0x00, 0x1F), (0x7F, 0x7F)],
    "digit": [(0x30, 0x39)],
    "graph": [(0x21, 0x7E)],
    "lower": [(0x61, 0x7A)],
    "print": [(0x20, 0x7E)],
    "punct": [(0x21, 0x2F), (0x3A, 0x40), (0x5B, 0x60), (0x7B, 0x7E)],
    "space": [(0x09, 0x0D), (0x20, 0x20)],
    "upper": [(0x41, 0x5A)],
    "word": [(0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A)],
    "xdigit": [(0x30, 0x39), (0x41, 0x46), (0x61, 0x66)],
}
_PERL = {"d": _POSIX["digit"], "w": _POSIX["word"], "s": [(0x09, 0x0A), (0x0C, 0x0D), (0x20, 0x20)]}

_CATEGORY_NAMES = {
    "letter": "L", "casedletter": "LC", "uppercaseletter": "Lu", "lowercaseletter": "Ll", "titlecaseletter": "Lt",
    "modifierletter": "Lm", "otherletter": "Lo", "mark": "M", "nonspacingmark": "Mn", "spacingmark": "Mc",
    "enclosingmark": "Me", "number": "N", "decimalnumber": "Nd", "letternumber": "Nl", "othernumber": "No",
    "punctuation": "P", "connectorpunctuation": "Pc", "dashpunctuation": "Pd", "openpunctuation": "Ps",
    "closepunctuation": "Pe", "initialpunctuation": "Pi", "finalpunctuation": "Pf", "otherpunctuation": "Po",
    "symbol": "S", "mathsymbol": "Sm", "currencysymbol": "Sc", "modifiersymbol": "Sk", "othersymbol": "So",
    "separator": "Z", "spaceseparator": "Zs", "lineseparator": "Zl", "paragraphseparator": "Zp", "other": "C",
    "control": "Cc", "format": "Cf", "surrogate": "Cs", "privateuse": "Co", "unassigned": "Cn",
}  # fmt: skip
_SHORT = "C Cc Cf Cn Co Cs L LC Ll Lm Lo Lt Lu M Mc Me Mn N Nd Nl No P Pc Pd Pe Pf Pi Po Ps S Sc Sk Sm So Z Zl Zp Zs".split()
_CATEGORY_NAMES.update({c.lower(): c for c in _SHORT})
# The scripts Go's unicode package knows (Unicode 15): valid in RE2, not translatable here.
_SCRIPTS = frozenset(
    n.lower().replace("_", "")
    for n in """Adlam Ahom Anatolian_Hieroglyphs Arabic Armenian Avestan Balinese Bamum Bassa_Vah Batak Bengali
    Bhaiksuki Bopomofo Brahmi Braille Buginese Buhid Canadian_Aboriginal Carian Caucasian_Albanian Chakma Cham
    Cherokee Chorasmian Common Coptic Cuneiform Cypriot Cypro_Minoan Cyrillic Deseret Devanagari Dives_Akuru Dogra
    Duployan Egyptian_Hieroglyphs Elbasan Elymaic Ethiopic Georgian Glagolitic Gothic Grantha Greek Gujarati
    Gunjala_Gondi Gurmukhi Han Hangul Hanifi_Rohingya Hanunoo Hatran Hebrew Hiragana Imperial_Aramaic Inherited
    Inscriptional_Pahlavi Inscriptional_Parthian Javanese Kaithi Kannada Katakana Kawi Kayah_Li Kharoshthi
    Khitan_Small_Script Khmer Khojki Khudawadi Lao Latin Lepcha Limbu Linear_A Linear_B Lisu Lycian Lydian Mahajani
    Makasar Malayalam Mandaic Manichaean Marchen Masaram_Gondi Medefaidrin Meetei_Mayek Mende_Kikakui
    Meroitic_Cursive Meroitic_Hieroglyphs Miao Modi Mongolian Mro Multani Myanmar Nabataean Nag_Mundari Nandinagari
    New_Tai_Lue Newa Nko Nushu Nyiakeng_Puachue_Hmong Ogham Ol_Chiki Old_Hungarian Old_Italic Old_North_Arabian
    Old_Permic Old_Persian Old_Sogdian Old_South_Arabian Old_Turkic Old_Uyghur Oriya Osage Osmanya Pahawh_Hmong
    Palmyrene Pau_Cin_Hau Phags_Pa Phoenician Psalter_Pahlavi Rejang Runic Samaritan Saurashtra Sharada Shavian
    Siddham SignWriting Sinhala Sogdian Sora_Sompeng Soyombo Sundanese Syloti_Nagri Syriac Tagalog Tagbanwa Tai_Le
    Tai_Tham Tai_Viet Takri Tamil Tangsa Tangut Telugu Thaana Thai Tibetan Tifinagh Tirhuta Toto Ugaritic Vai
    Vithkuqi Wancho Warang_Citi Yezidi Yi Zanabazar_Square""".split()
)

Ranges = list[tuple[int, int]]


class PatternError(ValueError):
    """A pattern RE2 refuses."""


class Unsupported(ValueError):
    """A valid RE2 pattern this module cannot translate faithfully."""


def check_re2(pattern: str) -> str | None:
    """Returns why RE2 would refuse ``pattern``, or None when it parses."""
    try:
        _compile(pattern, check_only=True)
    except Unsupported:
        return None
    except PatternError as e:
        return str(e)
    return None


def compile_re2(pattern: str) -> re.Pattern[str]:
    """Compiles an RE2 pattern to a Python expression matching whole values (``^(?:pattern)$``).
    Raises PatternError or Unsupported."""
    return _compile(pattern, check_only=False)


@functools.lru_cache(maxsize=256)
def _compile(pattern: str, check_only: bool) -> re.Pattern[str]:
    t = _Translator(pattern, check_only)
    flags, body = t.translate()
    try:
        return re.compile(f"(?:{body})\\Z", flags)
    except re.error as e:
        raise PatternError(str(e)) from None
    except RecursionError:
        raise PatternError("pattern nested too deeply") from None


class _Translator:
    def __init__(self, pattern: str, check_only: bool) -> None:
        self.p = pattern
        self.i = 0
        self.check_only = check_only
        self.after_repeat = False

    def translate(self) -> tuple[int, str]:
        flags = 0
        m = re.match(r"\(\?([imsU]+)\)", self.p)
        if m:
            if "U" in m.group(1):
                raise Unsupported("the U (ungreedy) flag")
            for f in m.group(1):
                flags |= {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL}[f]
            self.i = m.end()
        out: list[str] = []
        while self.i < len(self.p):
            out.append(self.token())
        return flags, "".join(out)

    def token(self) -> str:
        c = self.p[self.i]
        if c in "*+?" or (c == "{" and _REPEAT.match(self.p, self.i)):
            return self.repeat()
        self.after_repeat = False
        if c == "\\":
            return self.escape()
        if c == "[":
            return self.char_class()
        if c == "(":
            return self.group()
        self.i += 1
        if c in "{}]":
            return "\\" + c
        return c

    def repeat(self) -> str:
        if self.after_repeat:
            raise PatternError(f"invalid nested repetition operator: `{self.p[self.i - 1 : self.i + 1]}`")
        c = self.p[self.i]
        if c == "{":
            m = _REPEAT.match(self.p, self.i)
            assert m is not None
            if int(m.group(1)) > 1000 or (m.group(3) and int(m.group(3)) > 1000):
                raise PatternError(f"invalid repeat count: `{m.group()}`")
            text, self.i = m.group(), m.end()
        else:
            text, self.i = c, self.i + 1
        if self.p.startswith("?", self.i):
            text, self.i = text + "?", self.i + 1
        self.after_repeat = True
        return text

    def group(self) -> str:
        rest = self.p[self.i : self.i + 4]
        if not rest.startswith("(?"):
            self.i += 1
            return "("
        m = re.compile(r"\(\?P?<([A-Za-z0-9_]+)>").match(self.p, self.i)
        if m:
            self.i = m.end()
            return f"(?P<{m.group(1)}>"
        m = re.compile(r"\(\?(-?[imsU]+|[imsU]+-[imsU]*)(:|\))").match(self.p, self.i)
        if m:
            if "U" in m.group(1):
                raise Unsupported("the U (ungreedy) flag")
            if m.group(2) == ")":
                raise Unsupported("a (?flags) group that is not at the start of the pattern")
            self.i = m.end()
            return f"(?{m.group(1)}:"
        if rest.startswith("(?:"):
            self.i += 3
            return "(?:"
        raise PatternError(f"invalid or unsupported Perl syntax: `{rest}`")

    def escape(self, in_class: bool = False) -> str:
        """Translates the escape at self.i; in a class, returns class content."""
        e = self.p[self.i + 1 : self.i + 2]
        if e == "":
            raise PatternError("trailing backslash at end of expression")
        self.i += 2
        if e in "dws" and e != "":
            return _class_text(_PERL[e]) if in_class else "[" + _class_text(_PERL[e]) + "]"
        if e in "DWS":
            r = _complement(_PERL[e.lower()])
            return _class_text(r) if in_class else "[" + _class_text(r) + "]"
        if e in "pP":
            return self.unicode_class(e == "P", in_class)
        if not in_class and e in "bB":
            w = f"[{_WORD}]"
            if e == "b":
                return f"(?:(?<={w})(?!{w})|(?<!{w})(?={w}))"
            return f"(?:(?<={w})(?={w})|(?<!{w})(?!{w}))"
        if not in_class and e in "Az":
            return "\\A" if e == "A" else "\\Z"
        if e in "ftnrv":
            return "\\" + e
        if e == "a":
            return "\\x07"
        if e == "x":
            return _lit(self.hex_escape())
        if e == "Q":
            end = self.p.find("\\E", self.i)
            text = self.p[self.i :] if end < 0 else self.p[self.i : end]
            self.i = len(self.p) if end < 0 else end + 2
            return "".join(_lit(ord(c)) for c in text) if in_class else re.escape(text)
        if "0" <= e <= "9":
            return _lit(self.octal(e))
        if e.isascii() and not e.isalnum():
            return "\\" + e
        raise PatternError(f"invalid escape sequence: `\\{e}`")

    def octal(self, first: str) -> int:
        m = re.compile("[0-7]{0,2}").match(self.p, self.i)
        assert m is not None
        if first in "89" or (first != "0" and m.group() == ""):
            raise PatternError(f"invalid escape sequence: `\\{first}`")
        self.i = m.end()
        return int(first + m.group(), 8)

    def hex_escape(self) -> int:
        if self.p.startswith("{", self.i):
            end = self.p.find("}", self.i)
            h = self.p[self.i + 1 : end] if end >= 0 else ""
            if not re.fullmatch("[0-9A-Fa-f]{1,8}", h) or int(h, 16) > 0x10FFFF:
                raise PatternError("invalid escape sequence: `\\x{`")
            self.i = end + 1
            return int(h, 16)
        h = self.p[self.i : self.i + 2]
        if not re.fullmatch("[0-9A-Fa-f]{2}", h):
            raise PatternError("invalid escape sequence: `\\x`")
        self.i += 2
        return int(h, 16)

    def unicode_class(self, neg: bool, in_class: bool) -> str:
        if self.p.startswith("{", self.i):
            end = self.p.find("}", self.i)
            if end < 0:
                raise PatternError("invalid character class range: missing }")
            name, self.i = self.p[self.i + 1 : end], end + 1
        else:
            name, self.i = self.p[self.i : self.i + 1], self.i + 1
        if name.startswith("^"):
            neg, name = not neg, name[1:]
        key = re.sub("[ _-]", "", name).lower()
        if key == "any":
            r: Ranges = [(0, 0x10FFFF)]
        elif key in _CATEGORY_NAMES:
            r = _category(_CATEGORY_NAMES[key])
        elif key in _SCRIPTS:
            if self.check_only:
                r = [(0x41, 0x41)]  # stands in for the script: the syntax is what is checked
            else:
                raise Unsupported(f"the Unicode script class \\p{{{name}}}")
        else:
            raise PatternError(f"invalid character class range: `\\p{{{name}}}`")
        r = _complement(r) if neg else r
        return _class_text(r) if in_class else "[" + _class_text(r) + "]"

    def char_class(self) -> str:
        self.i += 1
        out = ["["]
        if self.p.startswith("^", self.i):
            out.append("^")
            self.i += 1
        if self.p.startswith("]", self.i):
            out.append("\\]")
            self.i += 1
        while self.i < len(self.p):
            c = self.p[self.i]
            if c == "]":
                self.i += 1
                return "".join(out) + "]"
            if c == "[" and self.p.startswith("[:", self.i):
                m = re.compile(r"\[:(\^?)([a-z]+):\]").match(self.p, self.i)
                if not m or m.group(2) not in _POSIX:
                    raise PatternError("invalid character class range")
                r = _POSIX[m.group(2)]
                out.append(_class_text(_complement(r) if m.group(1) else r))
                self.i = m.end()
            elif c == "\\":
                out.append(self.escape(in_class=True))
            else:
                out.append("\\" + c if c in "[&~|" else c)
                self.i += 1
        raise PatternError("missing closing ]")


_REPEAT = re.compile(r"\{([0-9]+)(,([0-9]*))?\}")


def _lit(cp: int) -> str:
    return f"\\U{cp:08x}"


def _class_text(r: Ranges) -> str:
    return "".join(_lit(lo) if lo == hi else f"{_lit(lo)}-{_lit(hi)}" for lo, hi in r)


def _complement(r: Ranges) -> Ranges:
    out: Ranges = []
    nxt = 0
    for lo, hi in sorted(r):
        if lo > nxt:
            out.append((nxt, lo - 1))
        nxt = max(nxt, hi + 1)
    if nxt <= sys.maxunicode:
        out.append((nxt, sys.maxunicode))
    return out


@functools.lru_cache(maxsize=None)
def _category(name: str) -> Ranges:
    """The code points of a general category (one or two letters; LC is Lu|Ll|Lt), from unicodedata."""
    want = {"LC": ("Lu", "Ll", "Lt")}.get(name, (name,))
    out: Ranges = []
    start = -1
    for cp in range(sys.maxunicode + 2):
        cat = unicodedata.category(chr(cp)) if cp <= sys.maxunicode else ""
        hit = cat in want or (len(name) == 1 and cat.startswith(name))
        if hit and start < 0:
            start = cp
        elif not hit and start >= 0:
            out.append((start, cp - 1))
            start = -1
    return out
