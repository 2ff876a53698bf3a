"""Finding secrets in text: the stack's own keys (in the forms they travel in) and the shapes
of any other credential (a SAS signature, a connection string's key, a bearer token, a
SharedKey authorization). A finding names where it was seen and shows a redacted excerpt."""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

# Credential shapes, whoever's they are. Each needs a value after it, so a log line saying
# "Bearer accepted" or a docstring naming "sig=" is not a finding.
SHAPES = {
    "SAS signature": re.compile(r"[?&]sig=[A-Za-z0-9%+/=]{8,}"),
    "connection-string key": re.compile(r"AccountKey=[A-Za-z0-9+/=]{8,}"),
    "bearer token": re.compile(r"Bearer\s+[A-Za-z0-9\-_.~+/]{20,}=*"),
    "SharedKey authorization": re.compile(r"SharedKey(?:Lite)?\s+[^\s:]+:[A-Za-z0-9+/=]{16,}"),
}
EXCERPT_CHARS = 40


@dataclass(frozen=True)
class Finding:
    place: str  # e.g. "task j/t1 environment FOO", "blob results/a.csv/…/env.txt"
    what: str  # the secret's name or shape
    excerpt: str  # the text around it, the secret itself redacted

    def __str__(self) -> str:
        return f"{self.place}: {self.what}: …{self.excerpt}…"


class SecretScanner:
    """Looks for named secret values and credential shapes in text."""

    def __init__(self, secrets: Mapping[str, str]) -> None:
        self._needles: list[tuple[str, str]] = []
        for name, value in secrets.items():
            if not value:
                continue
            forms = {value, urllib.parse.quote(value, safe=""), urllib.parse.quote_plus(value)}
            self._needles += [(name, form) for form in sorted(forms)]
        self.findings: list[Finding] = []
        self.places = 0

    def scan(self, place: str, text: str) -> None:
        self.places += 1
        for name, needle in self._needles:
            at = text.find(needle)
            if at >= 0:
                self.findings.append(Finding(place, name, _excerpt(text, at, len(needle))))
        for shape, pattern in SHAPES.items():
            for match in pattern.finditer(text):
                self.findings.append(
                    Finding(place, shape, _excerpt(text, match.start(), len(match.group())))
                )

    def scan_all(self, items: Iterable[tuple[str, str]]) -> int:
        """Scan each (place, text); return how many places."""
        count = 0
        for place, text in items:
            self.scan(place, text)
            count += 1
        return count

    def report(self) -> str:
        return "\n".join(str(f) for f in self.findings)


def _excerpt(text: str, at: int, length: int) -> str:
    before = text[max(0, at - EXCERPT_CHARS) : at]
    after = text[at + length : at + length + EXCERPT_CHARS]
    shown = text[at : at + min(4, length)]
    return f"{before}{shown}<redacted {length} chars>{after}".replace("\n", "\\n")
