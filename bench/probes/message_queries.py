"""The SQL the message page runs (newest page, the page `depth` deep by its cursor) and the naive
OFFSET query over the same columns, captured from the selectors with literal values.

    python -m bench.probes.message_queries THREAD DEPTH   (JSON out)
"""

import json
import sys

import django

from breederhq.databases import MARKETPLACE_DB


def main() -> None:
    django.setup()
    from django.db import connections
    from django.test.utils import CaptureQueriesContext

    from marketplace_app import selectors
    from marketplace_app.api.serializers import MESSAGE_VALUES
    from marketplace_app.models import MessageThread

    thread, depth = int(sys.argv[1]), int(sys.argv[2])
    created_at, last = (
        MessageThread.objects.using(MARKETPLACE_DB).values_list("created_at", "last_message_at").get(pk=thread)
    )
    span = selectors.ThreadSpan(created_at, last)
    row = (
        selectors.message_page_queryset_unbounded(thread_id=thread)
        .values_list("created_at", "id")[depth - 1 : depth]
        .get()
    )
    out = {}
    for name, before in (("newest", None), ("deep", row)):
        with CaptureQueriesContext(connections[MARKETPLACE_DB]) as captured:
            selectors.message_page(thread_id=thread, span=span, before=before, limit=51, values=MESSAGE_VALUES)
        out[name] = [q["sql"] for q in captured]
    offset = selectors.message_page_queryset_unbounded(thread_id=thread).values(*MESSAGE_VALUES)[depth : depth + 51]
    with CaptureQueriesContext(connections[MARKETPLACE_DB]) as captured:
        list(offset)
    out["offset"] = [q["sql"] for q in captured]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
