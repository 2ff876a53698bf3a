"""Blob trigger paths such as ``incoming/{name}`` or ``drops/{folder}/{name}.csv``.

The first segment is the container; the rest is a pattern over the blob name in which
``{x}`` binds any text (the last one may span ``/``) and ``{{``/``}}`` stand for braces.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from devstack.funchost.errors import ConfigError

_TOKEN = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_-]*)\}")


@dataclass(frozen=True)
class BlobPathPattern:
    """A parsed blob trigger path: container, listing prefix and a name matcher."""

    text: str
    container: str
    prefix: str
    _regex: re.Pattern[str]

    @classmethod
    def parse(cls, path: str) -> BlobPathPattern:
        container, slash, blob_pattern = path.strip().strip("/").partition("/")
        if not container or "{" in container or "%" in container:
            raise ConfigError(f"blob trigger path {path!r} must start with a container name")
        if not slash or not blob_pattern:
            blob_pattern = "{name}"  # a bare container triggers on every blob in it
        regex, prefix, literal = [], "", True
        position = 0
        tokens = list(_TOKEN.finditer(blob_pattern))
        for index, token in enumerate(tokens):
            text = blob_pattern[position : token.start()]
            regex.append(re.escape(text))
            if literal:
                prefix += text
            if token.group(1) is None:
                brace = token.group(0)[0]
                regex.append(re.escape(brace))
                if literal:
                    prefix += brace
            else:
                literal = False
                last = index == len(tokens) - 1
                regex.append(f"(?P<{token.group(1).replace('-', '_')}>{'.+' if last else '.+?'})")
            position = token.end()
        tail = blob_pattern[position:]
        regex.append(re.escape(tail))
        if literal:
            prefix += tail
        return cls(path, container, prefix, re.compile("".join(regex) + r"\Z", re.DOTALL))

    def match(self, blob_name: str) -> dict[str, str] | None:
        """The binding data for ``blob_name``, or None when the blob does not match."""
        found = self._regex.match(blob_name)
        return None if found is None else found.groupdict()
