"""One provider edit per second, through the service the API's listing PATCH calls
(`services.listing_update`): the title of an active listing in the reference search's state,
changed back and forth, so each committed edit moves that scope's search-cache generation as a
provider's edit does. Runs until stopped (SIGTERM); prints the number of edits on its way out.

    python -m bench.probes.listing_edits STATE
"""

import json
import signal
import sys
import time

import django

from breederhq.databases import MARKETPLACE_DB


def main() -> None:
    django.setup()
    from marketplace_app import services
    from marketplace_app.models import ServiceListing

    state = sys.argv[1]
    listing = ServiceListing.objects.using(MARKETPLACE_DB).filter(status="active", state=state).order_by("id").first()
    title = listing.title
    edits, running = 0, True

    def stop(*_):
        nonlocal running
        running = False

    signal.signal(signal.SIGTERM, stop)
    next_at = time.monotonic()
    while running:
        version = ServiceListing.objects.using(MARKETPLACE_DB).values_list("version", flat=True).get(pk=listing.pk)
        services.listing_update(
            listing_id=listing.pk,
            provider_id=listing.provider_id,
            expected_version=version,
            title=title if edits % 2 else f"{title} (edited)",
        )
        edits += 1
        next_at += 1.0
        time.sleep(max(0.0, next_at - time.monotonic()))
    services.listing_update(
        listing_id=listing.pk,
        provider_id=listing.provider_id,
        expected_version=ServiceListing.objects.using(MARKETPLACE_DB)
        .values_list("version", flat=True)
        .get(pk=listing.pk),
        title=title,
    )
    print(json.dumps({"edits": edits, "listing_id": listing.pk}))


if __name__ == "__main__":
    main()
