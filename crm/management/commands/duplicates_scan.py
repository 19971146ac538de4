"""Fill the review queues of likely duplicate contacts and accounts from the records saved.

The services flag pairs as records come in; run this after loading records around them (a
restore, a bulk load) or after changing the matching rules. Pairs answered "not a duplicate"
stay out; pairs already in the queue get the new score and reasons.
"""

from django.core.management.base import BaseCommand

from crm.services.duplicates import PAIR_MODELS, duplicates_scan, pair_model


class Command(BaseCommand):
    help = "Find likely duplicate contacts and accounts among those saved, for the review queues."

    def add_arguments(self, parser):
        parser.add_argument(
            "--model", choices=sorted(PAIR_MODELS), help="Only contacts or only accounts."
        )
        parser.add_argument("--batch", type=int, default=500, help="Records read at a time.")

    def handle(self, *args, **options):
        kinds = [options["model"]] if options["model"] else sorted(PAIR_MODELS, reverse=True)
        for kind in kinds:
            noun = f"{kind}s"
            read = 0
            for read, _found in duplicates_scan(kind=kind, batch=options["batch"]):
                if read % (options["batch"] * 20) == 0:
                    self.stdout.write(f"{noun}: {read:,} read…")
            queued = pair_model(kind).objects.count()
            plural = "" if queued == 1 else "s"
            self.stdout.write(f"{noun}: {read:,} read, {queued:,} pair{plural} in the queue")
