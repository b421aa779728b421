"""The soak's load (bench/soak.py): a few client threads, each sending one request after another
from a weighted mix, every answer noted with the phase it was sent in. Reads (a listing search, a
provider page), authenticated writes (an invoice created with an Idempotency-Key, sometimes sent
twice with the same key, then sent and marked paid, the mark_paid sometimes repeated at the same
version; a purchase with an Idempotency-Key, sometimes repeated), and signed Stripe deliveries,
some of them a repeat of one already sent.

An answer is `ok` (below 500), a `refusal` (503 with a problem code of EXPECTED_REFUSALS and a
Retry-After header: the platform saying "not now", as documented) or `unexpected` (any other 5xx,
or no answer at all), kept with its request and body so the report can name it."""

from __future__ import annotations

import json
import random
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field

#: 503 problem codes the platform answers by design when a dependency is away, with Retry-After.
EXPECTED_REFUSALS = ("database_unavailable", "search_timeout")
#: The mix: request kind and weight.
MIX = (("listing_search", 4), ("provider_page", 2), ("invoice_flow", 2), ("purchase", 2), ("webhook", 3))
REPEAT_SHARE = 0.25


@dataclass
class Outcome:
    phase: str
    kind: str
    method: str
    path: str
    status: int
    ms: float
    code: str = ""
    retry_after: str | None = None
    body: str = ""


@dataclass
class SoakLoad:
    base_url: str
    setup: dict
    webhook_secret: str
    phase: str = "steady"
    outcomes: list[Outcome] = field(default_factory=list)
    replay_mismatches: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _sent_events: list[str] = field(default_factory=list)

    # --- one request -------------------------------------------------------------------------
    def request(
        self,
        kind: str,
        method: str,
        path: str,
        body: dict | str | None = None,
        headers: dict | None = None,
        *,
        auth: bool = True,
    ) -> tuple[int, dict]:
        data = None
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        if auth:
            all_headers.update(
                {"Authorization": f"Bearer {self.setup['token']}", "X-Tenant-ID": str(self.setup["tenant_id"])}
            )
        if body is not None:
            data = (body if isinstance(body, str) else json.dumps(body)).encode()
        request = urllib.request.Request(self.base_url + path, data=data, headers=all_headers, method=method)
        phase, started = self.phase, time.perf_counter()
        status, text, retry_after = 0, "", None
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, text = response.status, response.read().decode(errors="replace")
        except urllib.error.HTTPError as exc:
            status, text, retry_after = exc.code, exc.read().decode(errors="replace"), exc.headers.get("Retry-After")
        except OSError as exc:  # no answer: refused, reset, timed out
            text = f"{type(exc).__name__}: {exc}"
        try:
            payload = json.loads(text) if text.startswith("{") else {}
        except ValueError:
            payload = {}
        outcome = Outcome(
            phase,
            kind,
            method,
            path.split("?")[0],
            status,
            (time.perf_counter() - started) * 1000,
            str(payload.get("code", "")),
            retry_after,
            text[:300] if status >= 500 or not status else "",
        )
        with self._lock:
            self.outcomes.append(outcome)
        return status, payload

    # --- the kinds ---------------------------------------------------------------------------
    def listing_search(self, rng: random.Random) -> None:
        word = rng.choice(self.setup["words"])
        self.request(
            "listing_search",
            "GET",
            f"/api/v1/marketplace/listings/?q={word}&price_max_cents={rng.randint(10**9, 10**12)}",
            auth=False,
        )

    def provider_page(self, rng: random.Random) -> None:
        self.request(
            "provider_page", "GET", f"/api/v1/marketplace/providers/{rng.choice(self.setup['providers'])}/", auth=False
        )

    def invoice_flow(self, rng: random.Random) -> None:
        key = f"soak-inv-{rng.getrandbits(48):x}"
        body = {
            "contact_id": rng.choice(self.setup["contacts"]),
            "lines": [{"description": "Soak line", "unit_price_cents": rng.randint(100, 90_000)}],
        }
        status, created = self.request("invoice_create", "POST", "/api/v1/invoices/", body, {"Idempotency-Key": key})
        if status != 201:
            return
        if rng.random() < REPEAT_SHARE:  # the client retries: the same invoice again, not a second one
            again, replay = self.request("invoice_create", "POST", "/api/v1/invoices/", body, {"Idempotency-Key": key})
            if again == 201 and replay.get("id") != created["id"]:
                self.replay_mismatches.append(f"invoice create key {key}: {created['id']} then {replay.get('id')}")
        path = f"/api/v1/invoices/{created['id']}/"
        status, sent = self.request("invoice_send", "PATCH", path, {"action": "send", "version": created["version"]})
        if status != 200:
            return
        paid = {"action": "mark_paid", "version": sent["version"], "method": "manual", "reference": key}
        self.request("invoice_mark_paid", "PATCH", path, paid)
        if rng.random() < REPEAT_SHARE:  # the same payment again, at the same version: never a second one
            self.request("invoice_mark_paid", "PATCH", path, paid)

    def purchase(self, rng: random.Random) -> None:
        key = f"soak-buy-{rng.getrandbits(48):x}"
        body = {"listing_id": rng.choice(self.setup["listings"])}
        status, first = self.request(
            "purchase", "POST", "/api/v1/marketplace/transactions/", body, {"Idempotency-Key": key}
        )
        if status == 201 and rng.random() < REPEAT_SHARE:
            again, replay = self.request(
                "purchase", "POST", "/api/v1/marketplace/transactions/", body, {"Idempotency-Key": key}
            )
            if again == 201 and replay.get("id") != first.get("id"):
                self.replay_mismatches.append(f"purchase key {key}: {first.get('id')} then {replay.get('id')}")

    def webhook(self, rng: random.Random) -> None:
        import stripe

        from bench.webhooks import EVENT_MIX, _event_object
        from tests.fakes.stripe_server import stripe_event

        with self._lock:
            repeat = self._sent_events and rng.random() < REPEAT_SHARE
            body = rng.choice(self._sent_events) if repeat else None
        if body is None:
            event_type = rng.choices([t for t, _, _ in EVENT_MIX], [w for _, w, _ in EVENT_MIX])[0]
            n = rng.getrandbits(40)
            body = json.dumps(
                stripe_event(
                    event_type, _event_object(event_type, n, 200), event_id=f"evt_soak_{self.setup['run']}_{n:x}"
                ),
                separators=(",", ":"),
            )
            with self._lock:
                self._sent_events.append(body)
        header = stripe.WebhookSignature.generate_signature_header(body, self.webhook_secret)
        self.request(
            "webhook", "POST", "/api/v1/payments/stripe/webhook", body, {"Stripe-Signature": header}, auth=False
        )

    # --- the clients -------------------------------------------------------------------------
    def client(self, seed: int) -> None:
        rng = random.Random(seed)
        kinds, weights = [k for k, _ in MIX], [w for _, w in MIX]
        while not self._stop.is_set():
            getattr(self, rng.choices(kinds, weights)[0])(rng)

    def start(self, clients: int) -> list[threading.Thread]:
        threads = [
            threading.Thread(target=self.client, args=(self.setup["run"] + i,), daemon=True) for i in range(clients)
        ]
        for thread in threads:
            thread.start()
        return threads

    def stop(self, threads: list[threading.Thread]) -> None:
        self._stop.set()
        for thread in threads:
            thread.join(timeout=60)
