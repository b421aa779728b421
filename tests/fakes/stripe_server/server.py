"""The fake's HTTP server: its in-memory objects, idempotency, injected failures and the routing of
requests to the resources (accounts.py, payment_intents.py, refunds.py, ...)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from tests.fakes.stripe_server.accounts import Accounts
from tests.fakes.stripe_server.charges import Charges
from tests.fakes.stripe_server.disputes import Disputes
from tests.fakes.stripe_server.invoices import Invoices
from tests.fakes.stripe_server.payment_intents import PaymentIntents, intent_refusal
from tests.fakes.stripe_server.refunds import Refunds
from tests.fakes.stripe_server.wire import _multipart, _nested_form, new_id


class FakeStripe(Accounts, PaymentIntents, Charges, Refunds, Disputes, Invoices):
    """The fake Stripe: start() it, point the SDK at `url`, stop() it (each resource's module adds its part)."""

    def __init__(self):
        self.objects: dict[str, dict[str, dict]] = {
            "invoices": {},
            "payment_intents": {},
            "accounts": {},
            "refunds": {},
            "disputes": {},
            "files": {},
            "account_links": {},
        }
        self.file_contents: dict[str, bytes] = {}  # file id -> the bytes uploaded
        self.requests: list[dict] = []
        #: Idempotency-Key -> ((method, path, params) of the first request, its answer as it was)
        self._idempotent: dict[str, tuple[tuple, tuple[int, dict]]] = {}
        self._in_flight: set[str] = set()  # keys whose first request is being carried out
        self._failures: list[tuple[int, float]] = []  # (status, delay seconds) for the next requests
        self._latency: list[tuple[str, str, float]] = []  # (method, path prefix, seconds) before answering
        self._holds: list[tuple[str, str, threading.Event, threading.Event]] = []
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        # A short poll interval: `stop()` (shutdown) waits up to one interval for the serving loop to
        # notice, and every payment test stops a server (the default half second, times hundreds of tests).
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)

    # --- control ---------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> FakeStripe:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def fail_next(self, count: int, *, status: int = 500, delay: float = 0.0) -> None:
        """The next `count` requests answer `status` (after `delay` seconds: a timeout if long)."""
        with self._lock:
            self._failures.extend([(status, delay)] * count)

    def delay(self, method: str, path_prefix: str, seconds: float) -> None:
        """Every matching request takes `seconds` before Stripe acts on it (a slow Stripe)."""
        with self._lock:
            self._latency.append((method, path_prefix, seconds))

    def hold_next(self, method: str, path_suffix: str) -> tuple[threading.Event, threading.Event]:
        """The next matching request is carried out (as Stripe would), then its answer is held until
        `release` is set: returns (entered, release). A client killed meanwhile never hears back."""
        entered, release = threading.Event(), threading.Event()
        with self._lock:
            self._holds.append((method, path_suffix, entered, release))
        return entered, release

    def requests_to(self, method: str, path_prefix: str) -> list[dict]:
        return [r for r in self.requests if r["method"] == method and r["path"].startswith(path_prefix)]

    # --- HTTP ------------------------------------------------------------------------------------
    def _handler_class(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def _respond(self, status: int, body: dict):
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.send_header("Request-Id", new_id("req"))
                self.end_headers()
                try:
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test); nothing to answer

            def _handle(self, method: str):
                url = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                content_type = self.headers.get("Content-Type") or ""
                if content_type.startswith("multipart/form-data"):
                    fields, files = _multipart(body, content_type)
                    params = {**_nested_form({k: [v] for k, v in fields.items()}), "_files": files}
                else:
                    params = _nested_form(parse_qs(body.decode() or url.query, keep_blank_values=True))
                key = self.headers.get("Idempotency-Key")
                record = {
                    "method": method,
                    "path": url.path,
                    "params": params,
                    "idempotency_key": key,
                    "stripe_account": self.headers.get("Stripe-Account"),
                }
                fake.requests.append(record)
                with fake._lock:
                    failure = fake._failures.pop(0) if fake._failures else None
                if failure:
                    status, delay = failure
                    if delay:
                        time.sleep(delay)
                    return self._respond(status, {"error": {"type": "api_error", "message": "fake outage"}})
                with fake._lock:
                    latency = max(
                        [s for m, p, s in fake._latency if m == method and url.path.startswith(p)], default=0.0
                    )
                    hold = next((h for h in fake._holds if h[0] == method and url.path.endswith(h[1])), None)
                    if hold:
                        fake._holds.remove(hold)
                idempotent = method == "POST" and bool(key)
                with fake._lock:
                    busy = idempotent and key in fake._in_flight
                    if idempotent and not busy and key not in fake._idempotent:
                        fake._in_flight.add(key)
                if busy:  # Stripe refuses a key whose first request has not finished yet
                    record["replayed"] = False
                    return self._respond(
                        409,
                        {
                            "error": {
                                "type": "invalid_request_error",
                                "code": "idempotency_key_in_use",
                                "message": "There is currently another in-progress request using this idempotent key "
                                "(that probably means you submitted twice, and the other request is still "
                                "going through): " + key + ". Please try again later.",
                            }
                        },
                    )
                try:
                    if latency:
                        time.sleep(latency)
                    with fake._lock:  # one request at a time acts on the objects, as Stripe serialises them
                        replayed = idempotent and key in fake._idempotent
                        record["replayed"] = replayed  # answered from the idempotency cache: no effect
                        if replayed:
                            first, (status, body) = fake._idempotent[key]
                            if first != (method, url.path, params):
                                # Stripe compares the replay with the first request: another endpoint
                                # or other parameters under the same key are refused, nothing is done.
                                record["replayed"] = False
                                status, body = (
                                    400,
                                    {
                                        "error": {
                                            "type": "idempotency_error",
                                            "message": "Keys for idempotent requests can only be used with the same "
                                            "parameters they were first used with. Try using a key other than "
                                            f"'{key}' if you meant to execute a different request.",
                                        }
                                    },
                                )
                        else:
                            status, body = fake.route(method, url.path, params)
                            if idempotent:
                                fake._idempotent[key] = (
                                    (method, url.path, params),
                                    (status, json.loads(json.dumps(body))),
                                )
                finally:
                    if idempotent:
                        with fake._lock:
                            fake._in_flight.discard(key)
                if hold:
                    hold[2].set()
                    hold[3].wait(timeout=60)
                return self._respond(status, body)

            def do_GET(self):
                self._handle("GET")

            def do_POST(self):
                self._handle("POST")

            def do_DELETE(self):
                self._handle("DELETE")

        return Handler

    def route(self, method: str, path: str, params: dict) -> tuple[int, dict]:
        parts = path.strip("/").split("/")  # v1, collection, id?, action?
        if len(parts) < 2 or parts[0] != "v1" or parts[1] not in self.objects:
            return 404, {"error": {"type": "invalid_request_error", "message": f"Unrecognized request URL ({path})"}}
        collection = self.objects[parts[1]]
        if len(parts) == 2 and method == "GET":
            items = sorted(collection.values(), key=lambda o: o["id"])
            if params.get("payment_intent"):  # GET /v1/refunds?payment_intent=pi_...
                items = [o for o in items if o.get("payment_intent") == params["payment_intent"]]
            after = params.get("starting_after")
            if after:
                items = [o for o in items if o["id"] > after]
            limit = int(params.get("limit", 10))
            return 200, {"object": "list", "url": path, "data": items[:limit], "has_more": len(items) > limit}
        if len(parts) == 2 and method == "POST":
            if parts[1] == "payment_intents":
                refused = intent_refusal(params)
                if refused:
                    return 400, {"error": {"type": "invalid_request_error", **refused}}
            if parts[1] == "files":
                return self._create_file(params)
            if parts[1] == "account_links":
                refused = self._account_link_refusal(params)
                if refused:
                    return 400, {"error": {"type": "invalid_request_error", **refused}}
            if parts[1] == "refunds":
                refused = self._refund_refusal(params)
                if refused:
                    return 400, {"error": {"type": "invalid_request_error", **refused}}
            return 200, self._create(parts[1], params)
        obj = collection.get(parts[2]) if parts[1] != "account_links" else None  # links cannot be read back
        if obj is None:
            return 404, {
                "error": {
                    "type": "invalid_request_error",
                    "code": "resource_missing",
                    "message": f"No such object: '{parts[2]}'",
                }
            }
        if len(parts) == 4 and method == "POST":
            if (
                parts[1] == "payment_intents"
                and parts[3] == "cancel"
                and obj["status"] in {"succeeded", "canceled", "processing"}
            ):
                return 400, {
                    "error": {
                        "type": "invalid_request_error",
                        "code": "payment_intent_unexpected_state",
                        "message": f"You cannot cancel this PaymentIntent because it has a status of {obj['status']}.",
                    }
                }
            return 200, self._action(parts[1], obj, parts[3])
        if method == "POST" and parts[1] == "payment_intents":
            return self._update_intent(obj, params)
        if method == "POST" and parts[1] == "disputes":
            return self._update_dispute(obj, params)
        if method == "POST":
            obj.update(params)
        return 200, obj

    def _create(self, collection: str, params: dict) -> dict:
        now = int(time.time())
        if collection == "account_links":  # kept by url, not by id
            return self._new_account_link(params, now)
        make = {"invoices": self._new_invoice, "payment_intents": self._new_intent, "refunds": self._new_refund}
        obj = make.get(collection, self._new_account)(params, now)
        self.objects[collection][obj["id"]] = obj
        return obj

    def _action(self, collection: str, obj: dict, action: str) -> dict:
        if collection == "invoices" and action == "finalize":
            obj["status"] = "open"
        elif collection == "invoices" and action == "void":
            obj["status"] = "void"
        elif collection == "invoices" and action == "pay":
            obj["status"], obj["amount_paid"] = "paid", obj["amount_due"]
        elif collection == "payment_intents" and action == "cancel":
            obj["status"], obj["cancellation_reason"] = "canceled", "requested_by_customer"
        return obj
