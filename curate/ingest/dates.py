"""Parse the date formats dumps use into UTC timestamps.

Sources write dates as ISO 8601, RFC 2822 (e-mail/HTTP), ``YYYYMMDD`` (USPTO), ``YY.MM.DD`` (Naver
reviews), Unix seconds... A value that cannot be parsed gives ``None`` and the caller keeps the raw
string in ``meta.created_raw``: nothing is guessed silently.
"""

from __future__ import annotations

import re
from functools import lru_cache
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

_YMD = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_YY_MM_DD = re.compile(r"^(\d{2})\.(\d{1,2})\.(\d{1,2})(?:[ T](\d{1,2}):(\d{2}))?$")
_DOTTED = re.compile(r"^(\d{4})[./](\d{1,2})[./](\d{1,2})\.?$")


def parse_date(value: object) -> datetime | None:
    """Return an aware UTC datetime for ``value`` or ``None`` if it is not a recognisable date."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = value / 1000 if value > 1e11 else value  # milliseconds vs seconds
        try:
            return datetime.fromtimestamp(seconds, tz=timezone.utc)
        except (OverflowError, OSError, ValueError):
            return None
    return _parse_text(str(value).strip())


@lru_cache(maxsize=65536)  # dumps repeat the same dates (a day's news, a movie's reviews) many times
def _parse_text(text: str) -> datetime | None:
    if not text:
        return None
    dt: datetime | None = None
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        if m := _YMD.match(text):
            dt = _safe(int(m[1]), int(m[2]), int(m[3]))
        elif text.isascii() and text.isdigit() and len(text) in (9, 10, 12, 13):  # Unix time in a CSV column
            return parse_date(int(text))
        elif m := _YY_MM_DD.match(text):
            dt = _safe(_century(int(m[1])), int(m[2]), int(m[3]), int(m[4] or 0), int(m[5] or 0))
        elif m := _DOTTED.match(text):
            dt = _safe(int(m[1]), int(m[2]), int(m[3]))
        else:
            try:
                dt = parsedate_to_datetime(text)
            except (TypeError, ValueError, IndexError):
                dt = None
    if dt is None:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    try:
        return dt.astimezone(timezone.utc)
    except (OverflowError, ValueError):
        return None


def _safe(*parts: int) -> datetime | None:
    try:
        return datetime(*parts)
    except ValueError:
        return None


def _century(yy: int) -> int:
    """Two-digit year as POSIX ``strptime %y`` reads it: 69-99 -> 1969-1999, 00-68 -> 2000-2068."""
    return 1900 + yy if yy >= 69 else 2000 + yy
