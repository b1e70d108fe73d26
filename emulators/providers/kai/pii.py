"""PII detection by rules (and fixture word lists), replaced by numbered placeholders.

Every detector yields (start, end, type) spans; overlapping spans are resolved by the earliest
start, then the longest match, then detector order. Each distinct value of a type gets one
placeholder `[[TYPE_N]]`, numbered per type in order of first occurrence; the same value always
maps to the same placeholder.
"""
from __future__ import annotations

import ipaddress
import re
from functools import lru_cache
from typing import Callable, Iterator

PII_TYPES = ("name", "email", "phone", "dob", "address", "insurance", "iban", "company", "medical",
             "credit_card", "passport", "vehicle", "ip_address", "url", "username", "vat_number",
             "company_register", "healthcare_number", "tax_id", "age", "nationality", "gender",
             "religion", "occupation", "birth_year", "linkedin")

Span = tuple[int, int, str]
_U = "A-ZÄÖÜ"
_L = "a-zäöüß"
_DATE = (r"(?:\d{1,2}[./-]\d{1,2}[./-](?:19|20)\d{2}|(?:19|20)\d{2}-\d{2}-\d{2}"
         r"|\d{1,2}\.?\s+(?:Januar|Februar|März|April|Mai|Juni|Juli|August|September|Oktober|November"
         r"|Dezember|January|February|March|May|June|July|October|December)\s+(?:19|20)\d{2}"
         r"|(?:January|February|March|April|May|June|July|August|September|October|November|December)"
         r"\s+\d{1,2},?\s+(?:19|20)\d{2})")


def _keyword_value(keywords: str, value: str, flags: int = re.IGNORECASE) -> re.Pattern[str]:
    """`keyword[:#]? value`: only the value group is the PII."""
    # possessive blanks: "\s*(sep)?\s*" could split a long run of blanks n ways (O(n^2))
    return re.compile(rf"(?:{keywords})\s*+(?:[:#]|-?Nr\.?|No\.?|number)?\s*+({value})", flags)


_RULES: dict[str, list[re.Pattern[str]]] = {
    # tried only where a run of local-part characters begins (the lookbehind), leading dots and
    # signs skipped possessively: "\b[\w.+-]+@" alone retries inside every run ("a.a.a...": O(n^2))
    "email": [re.compile(r"(?<![\w.+-])[.+-]*+(\b[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}\b)")],
    "linkedin": [re.compile(r"(?:https?://)?(?:[a-z]{2,3}\.)?linkedin\.com/in/[\w%-]+/?", re.I)],
    "url": [re.compile(r"\bhttps?://[^\s<>\"')\]]+|\bwww\.[^\s<>\"')\]]+", re.I)],
    "vat_number": [re.compile(r"\b(?:DE\d{9}|ATU\d{8}|FR[A-HJ-NP-Z0-9]{2}\d{9}|NL\d{9}B\d{2}|GB\d{9}"
                              r"|IT\d{11}|ES[A-Z0-9]\d{7}[A-Z0-9]|BE0\d{9}|PL\d{10}|LU\d{8}|DK\d{8}"
                              r"|CHE-?\d{3}\.?\d{3}\.?\d{3}(?:\s?(?:MWST|TVA|IVA))?)\b")],
    "company_register": [re.compile(r"\b(?:HRA|HRB|GnR|PR|VR)\s?\d{1,6}(?:\s?[A-Z]\b)?|\bFN\s?\d{1,6}[a-z]\b")],
    "tax_id": [_keyword_value(r"Steuer-?ID|Steueridentifikationsnummer|Steuernummer|St\.-?Nr\.?|Tax\s?ID|TIN|SSN",
                              r"\d[\d /-]{7,16}\d")],
    "healthcare_number": [
        re.compile(r"\b[A-Z]\d{9}\b"),
        _keyword_value(r"Krankenversichertennummer|KVNR|NHS\s?number|Health\s?(?:insurance\s?)?(?:card\s?)?number",
                       r"[A-Z0-9][A-Z0-9 -]{5,18}[A-Z0-9]"),
    ],
    "insurance": [
        re.compile(r"\b\d{2}\s?\d{6}\s?[A-Z]\s?\d{3}\b"),  # German social insurance number
        _keyword_value(r"Versicherungsnummer|Versichertennummer|Policennummer|Police|Policy|Insurance",
                       r"[A-Z0-9][A-Z0-9-]{4,19}"),
    ],
    "passport": [_keyword_value(r"Reisepass(?:nummer)?|Passnummer|Pass|Passport|Ausweis(?:nummer)?",
                                r"[A-Z0-9]{6,10}", re.IGNORECASE)],
    "vehicle": [re.compile(rf"\b[{_U}]{{1,3}}-[A-Z]{{1,2}}\s?\d{{1,4}}[EH]?\b"),
                _keyword_value(r"VIN|FIN|Fahrgestellnummer", r"[A-HJ-NPR-Z0-9]{17}")],
    "dob": [re.compile(rf"(?:geb\.|geboren(?:\s+am)?|Geburtsdatum|Geb\.-Datum|born(?:\s+on)?|DOB|D\.O\.B\.|"
                       rf"date\s+of\s+birth|birth\s?date)\s*+:?\s*+({_DATE})", re.I)],
    "birth_year": [re.compile(r"(?:Jahrgang|Geburtsjahr|born\s+in|geboren\s+im\s+Jahr|geboren|year\s+of\s+birth)"
                              r"\s*+:?\s*+((?:19|20)\d{2})\b", re.I)],
    "age": [re.compile(r"\b\d{1,3}(?:\s?|-)(?:years?[\s-]old|year-old|Jahre\s+alt|jährige[rn]?|jährig)\b", re.I),
            re.compile(r"(?:\bAlter|\bage|\baged)\s*+:?\s*+(\d{1,3})\b", re.I)],
    "ip_address": [re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b"),
                   re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{1,4}:){2,7}[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{1,4})*(?![\w:])")],
    "iban": [re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b")],
    "credit_card": [re.compile(r"\b\d(?:[ -]?\d){12,18}\b")],
    "phone": [re.compile(r"(?<![\w+])(?:\+\d{1,3}|00\d{1,3}|0|\(0\d{1,4}\))[\d /().-]{6,18}\d\b")],
    "address": [
        # street words are bounded (40): unbounded, every capital in "A-A-A-..." rescans the rest
        re.compile(rf"\b[{_U}][{_L}A-Za-z-]{{0,40}}(?:straße|strasse|str\.|weg|allee|platz|gasse|ring|damm|ufer)"
                   rf"\s+\d{{1,4}}\s?[a-z]?\b(?:,?\s+\d{{5}}\s+[{_U}][{_L}]+(?:\s+[{_U}][{_L}]+)?)?"),
        re.compile(rf"\b\d{{1,5}}\s+(?:[{_U}][a-z]+\s+){{1,3}}(?:Street|St\.|Avenue|Ave\.|Road|Rd\.|Lane|Drive"
                   rf"|Boulevard|Blvd\.|Way|Court)(?:,\s+[{_U}][a-z]+)?"),
    ],
    "username": [_keyword_value(r"username|user\s?name|Benutzername|Benutzer|login", r"@?[\w.-]{3,32}"),
                 re.compile(r"(?<![\w@.])@[A-Za-z0-9_]{3,30}\b")],
}


def _valid(kind: str, value: str) -> bool:
    """Checksums and plausibility the regexes cannot express."""
    digits = re.sub(r"\D", "", value)
    if kind == "iban":
        compact = value.replace(" ", "")
        if not 15 <= len(compact) <= 34:
            return False
        moved = compact[4:] + compact[:4]
        try:
            return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1
        except ValueError:
            return False
    if kind == "credit_card":
        if not 13 <= len(digits) <= 19 or not _card_brand_fits(digits):
            return False
        total = 0
        for i, d in enumerate(reversed(digits)):
            n = int(d) * (2 if i % 2 else 1)
            total += n - 9 if n > 9 else n
        return total % 10 == 0
    if kind == "ip_address":
        try:
            ipaddress.ip_address(value)
        except ValueError:
            return False
        return True
    if kind == "phone":
        return 7 <= len(digits) <= 15
    if kind == "age":
        return 0 < int(digits or 0) < 130
    return True


def _card_brand_fits(digits: str) -> bool:
    """The issuer prefix (IIN) allows this length: Visa, Mastercard, Amex, Discover, JCB,
    Diners, UnionPay, Maestro."""
    n, p2, p4 = len(digits), int(digits[:2]), int(digits[:4])
    if digits[0] == "4":
        return n in (13, 16, 19)
    if 51 <= p2 <= 55 or 2221 <= p4 <= 2720:
        return n == 16
    if p2 in (34, 37):
        return n == 15
    if p4 == 6011 or p2 == 65 or 644 <= int(digits[:3]) <= 649 or 3528 <= p4 <= 3589 or p2 == 62:
        return 16 <= n <= 19
    if p2 in (36, 38, 39) or 300 <= int(digits[:3]) <= 305:
        return 14 <= n <= 19
    if p2 in (50, 56, 57, 58) or 60 <= p2 <= 69:
        return 12 <= n <= 19
    return False


@lru_cache(maxsize=64)
def _word_rule(words: tuple[str, ...], case: bool) -> re.Pattern[str] | None:
    if not words:
        return None
    alternatives = "|".join(re.escape(w) for w in sorted(set(words), key=len, reverse=True))
    return re.compile(rf"(?<![\w-])(?:{alternatives})(?![\w-])", 0 if case else re.IGNORECASE)


@lru_cache(maxsize=16)
def _name_rule(first_names: tuple[str, ...]) -> re.Pattern[str]:
    firsts = "|".join(re.escape(n) for n in sorted(set(first_names), key=len, reverse=True))
    cap = rf"(?!(?:Dr|Prof|Herr|Frau|Mr|Mrs|Ms)\b)[{_U}][{_L}]+(?:-[{_U}][{_L}]+)?"
    titles = "|".join(rf"(?<={re.escape(t)}[^\S\n])" for t in ("Herr", "Frau", "Mr.", "Mrs.", "Ms.", "Dr.", "Prof."))
    return re.compile(rf"(?:(?:{titles})(?:{cap}[^\S\n]+)?{cap}|\b(?:{firsts})(?:[^\S\n]+{cap}){{1,2}})\b")


@lru_cache(maxsize=16)
def _company_rule(suffixes: tuple[str, ...]) -> re.Pattern[str]:
    ends = "|".join(re.escape(s) for s in sorted(set(suffixes), key=len, reverse=True))
    # words of at most 40 characters, taken possessively: unbounded, every capital inside a long
    # run without blanks ("ABC-ABC-...") would rescan the rest of it (O(n^2))
    return re.compile(rf"\b(?:[{_U}][\w&.-]{{0,40}}+[^\S\n]+){{1,3}}(?:{ends})(?![\w])")


def _spans(text: str, kinds: set[str], lists: dict[str, list[str]]) -> Iterator[tuple[int, int, str, int]]:
    order = 0
    for kind in PII_TYPES_BY_PRIORITY:
        if kind not in kinds:
            continue
        order += 1
        rules: list[re.Pattern[str]] = list(_RULES.get(kind, ()))
        if kind == "name":
            rules.append(_name_rule(tuple(lists.get("first_names", ()))))
        elif kind == "company":
            words = _word_rule(tuple(lists.get("companies", ())), True)
            rules += ([words] if words else []) + [_company_rule(tuple(lists.get("company_suffixes", ())))]
        elif kind in _LISTS:
            words = _word_rule(tuple(lists.get(_LISTS[kind], ())), False)
            if words is not None:
                rules.append(words)
        for rule in rules:
            for m in rule.finditer(text):
                group = 1 if m.re.groups else 0
                start, end = m.span(group)
                value = text[start:end].rstrip(".,;:!?")
                end = start + len(value)
                if kind == "url" and value.count("(") < value.count(")"):
                    continue
                if end > start and _valid(kind, value):
                    yield start, end, kind, order


_LISTS = {"medical": "medical", "nationality": "nationalities", "gender": "genders",
          "religion": "religions", "occupation": "occupations"}
# Most specific first: a LinkedIn URL is not just a URL, an IBAN is not a phone number.
PII_TYPES_BY_PRIORITY = ("email", "linkedin", "url", "iban", "vat_number", "company_register", "tax_id",
                         "healthcare_number", "insurance", "passport", "credit_card", "ip_address", "dob",
                         "birth_year", "age", "vehicle", "address", "phone", "username", "company", "name",
                         "medical", "nationality", "gender", "religion", "occupation")
assert set(PII_TYPES_BY_PRIORITY) == set(PII_TYPES)


def detect(text: str, kinds: set[str], lists: dict[str, list[str]]) -> list[Span]:
    found = sorted(_spans(text, kinds, lists), key=lambda s: (s[0], s[3], -(s[1] - s[0])))
    chosen: list[Span] = []
    taken_until = -1
    # earliest start wins; at the same start the higher-priority detector, then the longer span
    for start, end, kind, _ in found:
        if start >= taken_until:
            chosen.append((start, end, kind))
            taken_until = end
    return chosen


def anonymize(text: str, kinds: set[str], lists: dict[str, list[str]],
              mapping: dict[tuple[str, str], str] | None = None) -> tuple[str, dict[str, str], dict[tuple[str, str], str]]:
    """(sanitized text, {placeholder: original}, {(type, value): placeholder})."""
    mapping = {} if mapping is None else mapping
    counters: dict[str, int] = {}
    for kind, _ in mapping:
        counters[kind] = counters.get(kind, 0) + 1
    out, last = [], 0
    for start, end, kind in detect(text, kinds, lists):
        value = text[start:end]
        key = (kind, value)
        if key not in mapping:
            counters[kind] = counters.get(kind, 0) + 1
            mapping[key] = f"[[{kind.upper()}_{counters[kind]}]]"
        out.append(text[last:start])
        out.append(mapping[key])
        last = end
    out.append(text[last:])
    return "".join(out), {ph: value for (_, value), ph in mapping.items()}, mapping


def sanitize_filename(filename: str, mapping: dict[tuple[str, str], str],
                      clean: Callable[[str], str] | None = None) -> str:
    """The upload's name with every detected value that occurs in it replaced (NAME_1 style)."""
    name = filename
    for (_, value), placeholder in sorted(mapping.items(), key=lambda kv: -len(kv[0][1])):
        for variant in {value, value.replace(" ", "_"), value.replace(" ", "-")}:
            if variant and variant in name:
                name = name.replace(variant, placeholder.strip("[]"))
    return clean(name) if clean else name
