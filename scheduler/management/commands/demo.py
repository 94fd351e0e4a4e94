"""`manage.py demo`: a demo user and team with one example sweep, and how to sign in."""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser

from hbsite import examples
from scheduler import sweeps
from scheduler.models import Membership, Team

DEMO_USER = "demo"
DEMO_PASSWORD = "hbsite-demo"
DEMO_TEAM = "Demo team"


class Command(BaseCommand):
    help = "Create the demo user and team and start the example sweep (once)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--sweep",
            default="hyperband.yml",
            help=f"a YAML file, or a shipped example: {', '.join(examples.names())}",
        )

    def handle(self, *args: object, sweep: str, **options: object) -> None:
        user, created = get_user_model().objects.get_or_create(username=DEMO_USER)
        if created:
            user.set_password(DEMO_PASSWORD)
            user.is_staff = user.is_superuser = True
            user.save()
        team, _ = Team.objects.get_or_create(name=DEMO_TEAM, personal=False)
        Membership.objects.get_or_create(team=team, user=user, defaults={"role": "admin"})
        if not team.sweeps.exists():
            text = examples.read_sweep(sweep)
            created_sweep = sweeps.create_sweep(text, team=team, owner=user)
            self.stdout.write(f"Started demo sweep {created_sweep.pk}: {created_sweep.name}")
        url = settings.HBSITE_API_URL
        self.stdout.write(
            f"\nhbsite is starting at {url}/\n"
            f"  sign in as '{DEMO_USER}' with password '{DEMO_PASSWORD}'\n"
            f"  API docs: {url}/api/docs/\n"
        )
