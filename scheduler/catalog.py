"""Finding sweeps: search by name and tag, filter by status, owner and team.

The sweeps page, its live row refresh and `GET /api/sweeps/` read the same `SweepSearch`, so
a sweep matches in one place the same way it matches in another.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from django.db.models import BooleanField, Q
from django.db.models.expressions import RawSQL

from .models import Sweep, SweepQuerySet, SweepStatus

ACTIVE = "active"  # a status filter that means created or running
MAX_TEXT = 200


@dataclass(frozen=True)
class SweepSearch:
    """What a list of sweeps is narrowed to; empty fields narrow nothing.

    `text`: every word must occur (ignoring case) in the name or one of the tags.
    `tag`: the sweep has this tag, spelt exactly. `status`: a sweep status or "active".
    `owner`: the owner's username. `team`: a team id.
    """

    text: str = ""
    tag: str = ""
    status: str = ""
    owner: str = ""
    team: int | None = None

    @classmethod
    def from_query(cls, get: Any) -> SweepSearch:
        """Read `q`, `tag`, `status`, `owner` and `team` from a query string, dropping what
        cannot match anything (an unknown status, a team that is not a number)."""
        status = get.get("status") or ""
        team = str(get.get("team") or "")
        return cls(
            text=(get.get("q") or "").strip()[:MAX_TEXT],
            tag=(get.get("tag") or "").strip()[:MAX_TEXT],
            status=status if status in (*SweepStatus.values, ACTIVE) else "",
            owner=(get.get("owner") or "").strip()[:150],
            team=int(team) if team.isdigit() and len(team) < 19 else None,
        )

    @property
    def narrowed(self) -> bool:
        """Tell whether anything but the status narrows the list."""
        return bool(self.text or self.tag or self.owner or self.team)

    def without_status(self) -> SweepSearch:
        return replace(self, status="")

    def query_string(self) -> dict[str, str]:
        """Return the non-empty fields under their query-string names."""
        pairs = {"q": self.text, "tag": self.tag, "status": self.status, "owner": self.owner,
                 "team": "" if self.team is None else str(self.team)}  # fmt: skip
        return {key: value for key, value in pairs.items() if value}


def statuses(status: str) -> tuple[str, ...]:
    """Return the sweep statuses a status filter stands for ("active": created, running)."""
    return tuple(Sweep.ACTIVE) if status == ACTIVE else (status,)


def a_tag_contains(word: str) -> RawSQL:
    """True where one of the sweep's tags contains `word`, ignoring case (each tag is
    matched on its own, never the JSON text of the list)."""
    escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    sql = (
        "EXISTS (SELECT 1 FROM jsonb_array_elements_text("
        f'"{Sweep._meta.db_table}"."tags") AS tag WHERE tag ILIKE %s)'
    )
    return RawSQL(sql, (f"%{escaped}%",), output_field=BooleanField())


def search(sweeps: SweepQuerySet, wanted: SweepSearch) -> SweepQuerySet:
    """Narrow `sweeps` to those that match `wanted` (see SweepSearch)."""
    for n, word in enumerate(wanted.text.split()):
        tagged = f"tag_has_{n}"
        sweeps = sweeps.alias(**{tagged: a_tag_contains(word)})
        sweeps = sweeps.filter(Q(name__icontains=word) | Q(**{tagged: True}))
    if wanted.tag:
        sweeps = sweeps.filter(tags__contains=[wanted.tag])
    if wanted.status:
        sweeps = sweeps.filter(status__in=statuses(wanted.status))
    if wanted.owner:
        sweeps = sweeps.filter(owner__username=wanted.owner)
    if wanted.team is not None:
        sweeps = sweeps.filter(team_id=wanted.team)
    return sweeps
