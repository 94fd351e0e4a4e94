"""Celery beat's scheduler, which creates the directory of its schedule file itself."""

from __future__ import annotations

from pathlib import Path

from celery.beat import PersistentScheduler


class Scheduler(PersistentScheduler):
    """`PersistentScheduler` that makes the schedule file's directory before opening it."""

    def setup_schedule(self) -> None:
        Path(self.schedule_filename).parent.mkdir(parents=True, exist_ok=True)
        super().setup_schedule()
