"""Long reports: Bitbucket refuses comments over its size limit; we cut at a line and say so.

Bitbucket documents no limit for Cloud. Bitbucket Server/Data Center answers
"Please enter a non-empty value less than 32768 characters", and Cloud users
report HTTP 400 on comments of ~39,000 characters (atlantis#1251). We keep the
whole comment, marker and note included, under 32,000 characters.
"""

from __future__ import annotations

import re

COMMENT_LIMIT = 32_000
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})", re.MULTILINE)


def note(shown: int, total: int, full_url: str | None) -> str:
    where = f" The full report: [{full_url.rsplit('/', 1)[-1]}]({full_url})." if full_url else ""
    return (
        f"\n\n---\n**Report truncated**: the first {shown:,} of {total:,} characters are shown; "
        f"Bitbucket limits a comment to about {COMMENT_LIMIT:,}.{where}\n"
    )


def fit(body: str, limit: int, full_url: str | None = None) -> tuple[str, bool]:
    """The body as is when it fits in `limit` characters, else cut at a line end with a closing note."""
    if len(body) <= limit:
        return body, False
    room = limit - len(note(len(body), len(body), full_url)) - 8  # 8: a closing fence
    if room <= 0:
        raise ValueError(f"a comment limit of {limit} characters leaves no room for the report")
    cut = body.rfind("\n", 0, room + 1)
    kept = body[: cut if cut > 0 else room]
    fences = _FENCE.findall(kept)
    if len(fences) % 2 == 1:  # cut inside a code block: close it so the note renders as text
        kept += "\n" + fences[-1][0] * len(fences[-1])
    return kept + note(len(kept), len(body), full_url), True
