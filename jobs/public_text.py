"""Texts that users read -- job errors, messages and logs, failed builds and exports -- without
the server's directories.

An exception's text often holds a path: ``[Errno 2] No such file or directory:
'/srv/lensforge/media/versions/ab/ab12.png'``, and a traceback names every source file with its
folder. Every member of a project reads its jobs, and where the server keeps its files and its code
is none of theirs (the API already shows file names only in job params and results). So absolute
paths are reduced to their last part when such a text is stored; the full text still goes to the
worker's own log (``logger.exception``), which only operators read.
"""

from __future__ import annotations

import functools
import re
import sys
import tempfile
from pathlib import Path

from django.conf import settings

# Top-level folders where servers keep files and code, plus those of this installation's own roots.
_COMMON_ROOTS = ("home", "usr", "opt", "srv", "var", "tmp", "work", "root", "mnt", "data", "app", "etc",
                 "run", "nix", "private", "Users", "lib", "lib64", "media", "Volumes", "builds")


def _roots() -> list[str]:
    found = set(_COMMON_ROOTS)
    for value in (getattr(settings, "BASE_DIR", None), getattr(settings, "DATA_DIR", None),
                  getattr(settings, "MEDIA_ROOT", None), sys.prefix, sys.base_prefix, tempfile.gettempdir()):
        if value:
            parts = Path(str(value)).parts
            if len(parts) > 1:
                found.add(parts[1])
    return sorted(found, key=len, reverse=True)


@functools.cache
def _pattern() -> re.Pattern[str]:
    roots = "|".join(re.escape(root) for root in _roots())
    # An absolute path under one of the roots, not part of a URL or of a longer word.
    return re.compile(rf"(?<![\w.:/~-])/(?:{roots})(?![\w.~-])(?:/[^\s/'\"()<>,;]+)*/?")


def without_server_paths(text: str) -> str:
    """``text`` with each absolute server path reduced to its last part (a file or folder name)."""
    if not text or "/" not in text:
        return text
    return _pattern().sub(lambda m: m.group(0).rstrip("/").rsplit("/", 1)[-1] or "/", text)
