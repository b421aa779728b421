"""A listing's search score: the stored order of the public listing search (`search_score`).

The search reads its matches in this order from a B-tree index and stops at the page, so what it
costs does not grow with the number of matches (marketplace_app/selectors.py, `ListingSearch`). The
score is what a buyer expects first when the words alone do not tell listings apart: the newest,
with a described and illustrated listing counted as somewhat newer than a bare one. In seconds:

    epoch(published_at)
    + DESCRIBED_BONUS_SECONDS   when the description has at least DESCRIBED_MIN_CHARS characters
    + IMAGE_BONUS_SECONDS each  for up to MAX_SCORED_IMAGES images

An unpublished listing (no `published_at`) has no score (NULL, last in the index's order).

Kept by the services that change its inputs, in their transaction (`refresh`): publishing
(`listing_transition`), editing (`listing_update`) and adding an image (`listing_image_add`). Rows
older than the column get theirs from `manage.py listing_search_scores` (batches by id, each its own
short transaction), which also repairs any drift.
"""

from __future__ import annotations

from django.db import connections

from breederhq.databases import MARKETPLACE_DB

DB = MARKETPLACE_DB

DESCRIBED_MIN_CHARS = 200
DESCRIBED_BONUS_SECONDS = 3 * 86_400
IMAGE_BONUS_SECONDS = 86_400
MAX_SCORED_IMAGES = 3

#: The score of the listing row `l`, as SQL (one home for the rule: services and the backfill).
SCORE_SQL = (
    "(floor(extract(epoch FROM l.published_at))::bigint"
    f" + CASE WHEN length(l.description) >= {DESCRIBED_MIN_CHARS} THEN {DESCRIBED_BONUS_SECONDS} ELSE 0 END"
    f" + {IMAGE_BONUS_SECONDS} * (SELECT count(*) FROM (SELECT 1 FROM service_listing_images i"
    f" WHERE i.listing_id = l.id LIMIT {MAX_SCORED_IMAGES}) images))"
)


def refresh(listing_id: int) -> None:
    """Recompute one listing's score (inside the caller's transaction on the marketplace database)."""
    with connections[DB].cursor() as cursor:
        cursor.execute(
            f"UPDATE service_listings l SET search_score = {SCORE_SQL}"
            f" WHERE l.id = %s AND l.search_score IS DISTINCT FROM {SCORE_SQL}",
            [listing_id],
        )


def backfill_batch(*, after_id: int, batch_size: int, using: str = DB) -> tuple[int | None, int]:
    """Score the next `batch_size` listings by id after `after_id` whose score is missing or wrong:
    (the last id looked at, or None when there is none left; rows changed). One statement, its own
    implicit transaction under autocommit: locks a batch of rows for milliseconds."""
    with connections[using].cursor() as cursor:
        cursor.execute(
            "WITH batch AS (SELECT id FROM service_listings WHERE id > %s ORDER BY id LIMIT %s),"
            " changed AS ("
            f"  UPDATE service_listings l SET search_score = {SCORE_SQL} FROM batch"
            f"  WHERE l.id = batch.id AND l.search_score IS DISTINCT FROM {SCORE_SQL} RETURNING 1)"
            " SELECT (SELECT max(id) FROM batch), (SELECT count(*) FROM changed)",
            [after_id, batch_size],
        )
        last_id, changed = cursor.fetchone()
    return last_id, changed
