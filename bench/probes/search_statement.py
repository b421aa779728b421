"""The statements the listing search sends for the given selector arguments (first page), with
literal values, captured from the selector, and each search's uncapped number of matches.

    python -m bench.probes.search_statement ARGUMENTS_LIST_JSON
    (JSON out: [{"sql", "sqls", "matches", "matches_sql", "text_matches", "walk_rows"}]; sql is the
    first statement the page sends, sqls all of them (a search of several terms whose bounded walk stops
    before the cap sends a second, through the GIN index); matches_sql counts the matches; walk_rows is
    LISTING_SEARCH_WALK_ROWS, the walk's bound)

Run with LISTING_SEARCH_STATEMENT_TIMEOUT_MS=0, so the selector sends the statement alone.
"""

import json
import sys

import django

from breederhq.databases import MARKETPLACE_DB


def main() -> None:
    django.setup()
    from django.conf import settings
    from django.db import connections
    from django.test.utils import CaptureQueriesContext

    from marketplace_app import selectors
    from marketplace_app.search_document import LISTING_SEARCH_DOCUMENT_SQL

    out = []
    for arguments in json.loads(sys.argv[1]):
        search = selectors.listing_search(**arguments)
        with CaptureQueriesContext(connections[MARKETPLACE_DB]) as captured:
            search.page(offset=0, limit=25)
        with (
            CaptureQueriesContext(connections[MARKETPLACE_DB]) as counted,
            connections[MARKETPLACE_DB].cursor() as cursor,
        ):
            cursor.execute(f"SELECT count(*) FROM service_listings l WHERE {search.where}", list(search.params))
            matches = cursor.fetchone()[0]
            cursor.execute(
                f"SELECT count(*) FROM service_listings l WHERE {LISTING_SEARCH_DOCUMENT_SQL}"
                " @@ websearch_to_tsquery('english'::regconfig, %s)",
                [arguments["query"]],
            )
            text_matches = cursor.fetchone()[0]
        out.append(
            {
                "sql": captured[0]["sql"],
                "sqls": [query["sql"] for query in captured],
                "matches": matches,
                "matches_sql": counted[0]["sql"],
                "text_matches": text_matches,
                "walk_rows": settings.LISTING_SEARCH_WALK_ROWS,
            }
        )
    print(json.dumps(out))


if __name__ == "__main__":
    main()
