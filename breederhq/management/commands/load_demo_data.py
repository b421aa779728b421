from breederhq.db_timeouts import LongRunningCommand
from demo.data import DEMO_PASSWORD, load_demo_data


class Command(LongRunningCommand):
    help = "Load the small demo data set (idempotent: running it again changes nothing)."

    def handle(self, *args, **options):
        logins = load_demo_data()
        self.stdout.write(f"Demo logins (password for all: {DEMO_PASSWORD}):")
        for email, what in logins:
            self.stdout.write(f"  {email:<32} {what}")
