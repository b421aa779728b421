"""What the bench requests, shared by the load scenarios, the in-process probes and bench.profile."""

#: The bench's reference search (`q=grooming puppy&state=TX`), as the selector's arguments.
SEARCH_ARGUMENTS = {"query": "grooming puppy", "state": "TX"}
SEARCH_PATH = "/api/v1/marketplace/listings/?q=grooming%20puppy&state=TX"
#: A broad one-word search: the most common word of the listing vocabulary (bench/generate_text.py).
BROAD_SEARCH_PATH = "/api/v1/marketplace/listings/?q=dog"

#: Each in-process request target: (path, whose bearer token) or None for the webhook's POST.
REQUEST_COST_TARGETS = {
    "baseline": ("/bench/baseline?id=1", None),
    "webhook": None,  # a POST, measured with the webhook's own body
    "listing_search": (SEARCH_PATH, None),
    # A different search each request (an upper price bound above every price): each misses the cache.
    "listing_search_uncached": (SEARCH_PATH + "&price_max_cents={n}", None),
    "transactions_first_page": ("/api/v1/marketplace/transactions/?as=provider", "provider"),
    "messages_newest_page": ("/api/v1/marketplace/threads/{deep_thread_id}/messages/", "provider"),
    "contacts_with_marketplace_names": ("/api/v1/contacts/", "owner"),
}
