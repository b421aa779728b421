"""GET /api/v1/marketplace/listings/: the public listing search (docs/architecture/marketplace.md#search).

Before any database work the request's parameters are checked and normalised: a parameter the
search does not know is a 400 `unknown_parameter` (so a tracking parameter cannot make a new cache
entry, and a misspelt filter is not silently ignored); the known ones become one canonical form
(`search_parameters`), the search cache's key. Then:
- the cache (marketplace_app/search_cache.py) answers a search made before, or the refusal of one
  that ran past its time limit;
- an uncached search takes one of the client's search slots (marketplace_app/search_guard.py: 429
  when all are taken) and runs under the time limit of its caller: shorter when not signed in.
"""

from __future__ import annotations

import re

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from breederhq.api.authentication import BreederHQJWTAuthentication
from breederhq.api.base import MarketplaceAPIView
from breederhq.api.pagination import MAX_PAGE, PageNumberCappedCount, bounded_int, page_size_of
from breederhq.api.params import QueryParams, validated
from breederhq.api.schema import problems
from breederhq.api.throttling import PublicReadIPThrottle
from breederhq.errors import ValidationFailed
from breederhq.money import MAX_AMOUNT_CENTS
from breederhq.read_replica import ReplicaReadsMixin, marketplace_read_alias
from marketplace_app import listing_images, search_cache, search_guard
from marketplace_app.api import serializers as s
from marketplace_app.listing_search import listing_search, search_facets
from marketplace_app.models import ServiceListing
from marketplace_app.selectors import SEARCH_ORDERS


class ListingSearchParams(QueryParams):
    q = serializers.CharField(required=False, max_length=200, help_text="Full text (websearch syntax).")
    category = serializers.ChoiceField(choices=ServiceListing.Category.choices, required=False)
    state = serializers.CharField(required=False, max_length=50)
    city = serializers.CharField(required=False, max_length=100)
    price_min_cents = serializers.IntegerField(required=False, min_value=0, max_value=MAX_AMOUNT_CENTS)
    price_max_cents = serializers.IntegerField(required=False, min_value=0, max_value=MAX_AMOUNT_CENTS)
    metadata_keys = serializers.ListField(child=serializers.CharField(max_length=50), required=False)
    order = serializers.ChoiceField(choices=list(SEARCH_ORDERS), default="relevance")


#: Every parameter the search reads: its filters and the paging ones. Anything else is refused.
KNOWN_PARAMETERS = frozenset({*ListingSearchParams._declared_fields, "page", "page_size"})

#: Part of every cached answer's key, so another release's answers are never read as this one's:
#: the selector's columns, and a version to bump when `listing_rows_out` renders them differently or
#: the answer's paging changes (3: the count cap, 1,000 -> 200), and the count cap itself.
_SEARCH_ANSWER_SHAPE = ("listing-search-page-3", s.LISTING_VALUES, "images-1")


def search_parameters(query_params) -> dict:
    """The search's parameters in canonical form: unknown ones refused (400 `unknown_parameter`),
    the others validated (400 `validation_failed`), whitespace trimmed, the text lower-cased (the
    text search is case-blind) and its spaces collapsed, the state upper-cased and the city trimmed
    as listings store them (the city matches exactly, case included), `metadata_keys` sorted without
    repeats, the defaults filled in. Two requests asking for the same page get the same dict."""
    unknown = [name[:100] for name in sorted(set(query_params) - KNOWN_PARAMETERS)[:20]]
    if unknown:
        raise ValidationFailed(
            f"Unknown parameter: {', '.join(unknown)}. The listing search takes {', '.join(sorted(KNOWN_PARAMETERS))}.",
            code="unknown_parameter",
            field_errors={name: ["Unknown parameter."] for name in unknown},
        )
    data = {key: value for key, value in query_params.items() if key in ListingSearchParams._declared_fields}
    if "metadata_keys" in query_params:
        data["metadata_keys"] = query_params.getlist("metadata_keys")
    filters = _plainly_valid(data)
    if filters is None:  # anything else (and every refusal, with its reasons) as the serializer sees it
        filters = validated(ListingSearchParams, data)
    facets = search_facets(category=filters.get("category"), state=filters.get("state"), city=filters.get("city"))
    text = " ".join(filters.get("q", "").split()).lower()
    raw_page = (query_params.get("page") or "1").strip().lower()
    return {
        "q": text or None,
        **facets,
        "price_min_cents": filters.get("price_min_cents"),
        "price_max_cents": filters.get("price_max_cents"),
        "metadata_keys": sorted(set(filters.get("metadata_keys") or [])) or None,
        "order": filters["order"],
        "page": raw_page if raw_page == "last" else bounded_int("page", raw_page, low=1, high=MAX_PAGE),
        "page_size": page_size_of(_Params(query_params)),
    }


#: What DRF's CharField refuses besides length (a NUL, a lone surrogate).
_REFUSED_CHARACTERS = re.compile("[\x00\ud800-\udfff]")
#: The bounds are read from ListingSearchParams' own fields: the rules have one home.
_FIELDS = ListingSearchParams._declared_fields
_TEXT_LENGTHS = {name: _FIELDS[name].max_length for name in ("q", "state", "city")}
_PRICES = {name: _FIELDS[name].max_value for name in ("price_min_cents", "price_max_cents")}
_CHOICES = {name: frozenset(_FIELDS[name].choices) for name in ("category", "order")}
_METADATA_KEY_LENGTH = _FIELDS["metadata_keys"].child.max_length


def _plain_text(value, max_length: int) -> str | None:
    if not isinstance(value, str) or _REFUSED_CHARACTERS.search(value):
        return None
    text = value.strip()
    return text if 0 < len(text) <= max_length else None


def _plainly_valid(data: dict) -> dict | None:
    """`ListingSearchParams`' validated data for parameters that are plainly valid (text within its
    length, a known category and order, prices written as digits within their bounds), without
    building the serializer's fields per request; None for anything else, which the serializer then
    validates (or refuses, with its reasons). Accepting only what it certainly accepts, this gives
    exactly its result (tests/marketplace_app/test_search_parameters.py)."""
    filters: dict = {"order": "relevance"}
    for name, value in data.items():
        if name in _TEXT_LENGTHS:
            filters[name] = _plain_text(value, _TEXT_LENGTHS[name])
        elif name in _PRICES:  # digits only: at least 0, the fields' minimum
            plain = isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 15
            filters[name] = int(value) if plain and int(value) <= _PRICES[name] else None
        elif name in _CHOICES:
            filters[name] = value if isinstance(value, str) and value in _CHOICES[name] else None
        elif name == "metadata_keys" and isinstance(value, list):
            keys = [_plain_text(key, _METADATA_KEY_LENGTH) for key in value]
            filters[name] = None if None in keys else keys
        else:
            return None
        if filters[name] is None:
            return None
    return filters


class _Params:
    """What `page_size_of` reads from a request."""

    def __init__(self, query_params):
        self.query_params = query_params


class ListingSearchView(ReplicaReadsMixin, MarketplaceAPIView):
    # Public: anyone may search. A bearer token is read only to give a signed-in caller the longer
    # time limit; the session is not (no cookie work on the hottest read).
    authentication_classes = [BreederHQJWTAuthentication]
    permission_classes = [AllowAny]
    throttle_classes = [PublicReadIPThrottle]
    pagination_class = PageNumberCappedCount
    serializer_class = s.ListingOut
    queryset = ServiceListing.objects.none()  # for the schema; reads go through selectors

    @extend_schema(
        operation_id="listings_search",
        tags=["marketplace"],
        parameters=[ListingSearchParams],
        responses={
            200: s.ListingWithImagesOut(many=True),
            **problems(
                e400="Invalid filter (`validation_failed`), or a parameter the search does not take "
                "(`unknown_parameter`, named in `errors`)",
                e404="A page past the last one (pages end at the count cap)",
                e429="Throttled: too many requests, or too many uncached searches running at once for "
                "this client (`throttled`, with Retry-After)",
                e503="The search ran past its time limit (`search_timeout`, the limit in `timeout_ms`; "
                "shorter when not signed in): narrow it. Repeating it within a short while gets the "
                "same answer from the cache",
            ),
        },
        summary="Active listings: filters and full-text search (count capped)",
    )
    def get(self, request):
        params = search_parameters(request.query_params)
        signed_in = bool(request.user and request.user.is_authenticated)
        timeout_ms = (
            settings.LISTING_SEARCH_STATEMENT_TIMEOUT_MS
            if signed_in
            else settings.LISTING_SEARCH_ANONYMOUS_STATEMENT_TIMEOUT_MS
        )
        # The answer's links are absolute: the scheme and host are part of the key.
        # And the database it reads: an answer from the replica (up to its lag limit behind) is never
        # served to a client that reads the primary (one that just wrote: breederhq/read_replica.py).
        key = (
            _SEARCH_ANSWER_SHAPE,
            settings.LISTING_SEARCH_COUNT_CAP,
            request.scheme,
            request.get_host(),
            tuple(sorted(params.items())),
            marketplace_read_alias(),
        )
        scope = search_cache.scope_of({facet: params[facet] for facet in search_cache.SCOPE_FACETS})
        ident = PublicReadIPThrottle().get_ident(request)
        answer = search_cache.cached(
            key,
            lambda: self._search(request, params, timeout_ms),
            scope=scope,
            refusal_variant=str(timeout_ms),
            # Taken only for a search the cache cannot answer; given back as its answer is stored.
            slot=lambda: search_guard.take_slot(ident, timeout_ms=timeout_ms),
        )
        return Response(answer)

    def _search(self, request, params: dict, timeout_ms: int) -> dict:
        listings = listing_search(
            query=params["q"],
            category=params["category"],
            state=params["state"],
            city=params["city"],
            price_min_cents=params["price_min_cents"],
            price_max_cents=params["price_max_cents"],
            metadata_keys=params["metadata_keys"],
            order=params["order"],
            timeout_ms=timeout_ms,
        )
        page = self.paginate_queryset(listings)
        rows = listing_images.with_images(s.listing_rows_out(page), request=request)  # one query for the page
        return self.get_paginated_response(rows).data
