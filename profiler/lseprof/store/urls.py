"""Store locations as text: telling a PostgreSQL URL from a file path, and showing a
URL with its password masked. Used by every backend; opens nothing.
"""

from __future__ import annotations

import os
import re

from lseprof.store.schema import URL_SCHEMES


def is_store_url(location: str | os.PathLike[str]) -> bool:
    """Whether ``location`` names a PostgreSQL store (``postgresql://`` or ``postgres://``)."""
    return isinstance(location, str) and location.lower().startswith(URL_SCHEMES)


COLLAPSED_SCHEMES = tuple(scheme.rstrip("/") + "/" for scheme in URL_SCHEMES)
_URL_USERINFO = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^:@/]*):[^@/]*@")
_URL_QUERY_PASSWORD = re.compile(r"(?P<key>[?&]password=)[^&#]*", re.IGNORECASE)


def display_location(location: str | os.PathLike[str]) -> str:
    """``location`` as it may be shown: a store URL with its password masked as ``***``."""
    text = os.fspath(location)
    if not is_store_url(text):
        return text
    text = _URL_USERINFO.sub(r"\g<scheme>\g<user>:***@", text, count=1)
    return _URL_QUERY_PASSWORD.sub(r"\g<key>***", text)
