"""A local fake of the Stripe API that the official SDK talks to over real HTTP.

Point the SDK at it with `STRIPE_API_BASE` (the gateway reads it). It keeps objects in memory,
answers with payloads shaped like Stripe's, replays the first response for a repeated
`Idempotency-Key` as Stripe does (the same key with other parameters is a 400 `idempotency_error`;
the same key while its first request is still being carried out is a 409 `idempotency_key_in_use`),
and can be told to fail (5xx) or stall (timeouts) on the next requests. `signed_delivery()` builds
webhook deliveries with real HMAC signatures; `account_updated()` is the `account.updated` event of
an account as the fake holds it (after `complete_onboarding()`, say).
"""

from __future__ import annotations

import email.parser
import email.policy
import itertools
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import stripe

_ids = itertools.count(1)

# Stripe's currency rules, written out here from Stripe's currencies documentation on purpose (not
# imported from breederhq/currencies.py): the fake checks our amounts against Stripe's rules, not
# against our own copy of them.
ZERO_DECIMAL = {
    "bif",
    "clp",
    "djf",
    "gnf",
    "jpy",
    "kmf",
    "krw",
    "mga",
    "pyg",
    "rwf",
    "ugx",
    "vnd",
    "vuv",
    "xaf",
    "xof",
    "xpf",
}
THREE_DECIMAL = {"bhd", "jod", "kwd", "omr", "tnd"}
TWO_DECIMAL = {
    "usd",
    "cad",
    "eur",
    "gbp",
    "aud",
    "nzd",
    "chf",
    "sek",
    "nok",
    "dkk",
    "pln",
    "czk",
    "ron",
    "bgn",
    "mxn",
    "brl",
    "sgd",
    "hkd",
    "inr",
    "aed",
    "myr",
    "thb",
    "huf",
    "twd",
    "isk",
    "idr",
    "php",
    "zar",
}
#: Stripe's minimum charge per currency, in the API's minor units (where Stripe names one).
MINIMUM_CHARGE = {
    "usd": 50,
    "cad": 50,
    "eur": 50,
    "aud": 50,
    "nzd": 50,
    "chf": 50,
    "gbp": 30,
    "jpy": 50,
    "huf": 17500,
    "dkk": 250,
    "sek": 300,
    "nok": 300,
    "czk": 1500,
    "mxn": 1000,
    "hkd": 400,
}
MAXIMUM_CHARGE = 99_999_999


def amount_refusal(currency: str, amount_text, *, param: str = "amount", charge: bool = True) -> dict | None:
    """Stripe's answer to an amount it will not take in `currency` (a charge's minimum and maximum
    when `charge`), or None."""
    if currency not in ZERO_DECIMAL | THREE_DECIMAL | TWO_DECIMAL:
        return {
            "param": "currency",
            "code": "parameter_invalid_string",
            "message": f"Invalid currency: {currency}. Stripe currently supports these currencies: ...",
        }
    try:
        amount = int(amount_text)
    except (TypeError, ValueError):
        return {"param": param, "code": "parameter_invalid_integer", "message": "Invalid integer: " + str(amount_text)}
    if amount < 0:
        return {
            "param": param,
            "code": "parameter_invalid_integer",
            "message": "This value must be greater than or equal to 0.",
        }
    if currency in THREE_DECIMAL and amount % 10:
        return {
            "param": param,
            "code": "invalid_charge_amount",
            "message": f"Amounts in {currency} must be rounded to the nearest ten (the last digit 0): {amount}.",
        }
    if currency == "isk" and amount % 100:
        return {
            "param": param,
            "code": "invalid_charge_amount",
            "message": f"ISK amounts must be whole krónur (divisible by 100): {amount}.",
        }
    if charge and amount < MINIMUM_CHARGE.get(currency, 1):
        return {
            "param": param,
            "code": "amount_too_small",
            "message": f"Amount must be at least {MINIMUM_CHARGE[currency]} {currency}",
        }
    if charge and amount > MAXIMUM_CHARGE:
        return {
            "param": param,
            "code": "amount_too_large",
            "message": f"Amount must be no more than {MAXIMUM_CHARGE} {currency}",
        }
    return None


def intent_refusal(params: dict) -> dict | None:
    currency = str(params.get("currency", ""))
    if currency != currency.lower() or not currency:
        return {"param": "currency", "code": "parameter_invalid_string", "message": f"Invalid currency: {currency}."}
    refused = amount_refusal(currency, params.get("amount"))
    if refused is None and params.get("application_fee_amount") not in (None, ""):
        refused = amount_refusal(
            currency, params["application_fee_amount"], param="application_fee_amount", charge=False
        )
        if refused is None and int(params["application_fee_amount"]) > int(params["amount"]):
            refused = {
                "param": "application_fee_amount",
                "code": "parameter_invalid_integer",
                "message": "The application fee cannot be larger than the amount.",
            }
    return refused


def new_id(prefix: str) -> str:
    return f"{prefix}_fake{next(_ids):08d}"


def _nested_form(pairs: dict[str, list[str]]) -> dict:
    """Stripe form encoding (`metadata[invoice]=5`, `lines[0][amount]=1`) back to a nested dict."""
    result: dict = {}
    for raw_key, values in pairs.items():
        parts = raw_key.replace("]", "").split("[")
        node = result
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = values[-1]
    return result


def _multipart(raw: bytes, content_type: str) -> tuple[dict, dict[str, dict]]:
    """A multipart/form-data body (the SDK's file uploads) as (fields, files): files by field name,
    each {"filename", "content"}."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + raw
    )
    fields: dict = {}
    files: dict[str, dict] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        content = part.get_payload(decode=True) or b""
        if part.get_filename() is not None:
            files[name] = {"filename": part.get_filename(), "content": content}
        else:
            fields[name] = content.decode()
    return fields, files


#: What Stripe calls a file's type, from its first bytes.
_FILE_TYPES = {b"%PDF-": "pdf", b"\x89PNG": "png", b"\xff\xd8\xff": "jpg"}
_CLOSED_DISPUTE = {"won", "lost", "warning_closed"}


class FakeStripe:
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
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

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

    def add_account(self, **fields) -> dict:
        account = {
            "id": new_id("acct"),
            "object": "account",
            "charges_enabled": True,
            "payouts_enabled": True,
            "details_submitted": True,
            "requirements": {"disabled_reason": None},
            **fields,
        }
        self.objects["accounts"][account["id"]] = account
        return account

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

    #: PaymentIntent statuses in which Stripe still lets the amount change.
    INTENT_UPDATABLE = frozenset({"requires_payment_method", "requires_confirmation", "requires_action"})

    def _update_intent(self, intent: dict, params: dict) -> tuple[int, dict]:
        """POST /v1/payment_intents/{id}: amounts are integers, and only an intent the buyer has not
        paid (or started paying) may change its amount."""
        if {"amount", "application_fee_amount"} & params.keys() and intent["status"] not in self.INTENT_UPDATABLE:
            return 400, {
                "error": {
                    "type": "invalid_request_error",
                    "code": "payment_intent_unexpected_state",
                    "message": f"This PaymentIntent's amount could not be updated because it has a "
                    f"status of {intent['status']}.",
                }
            }
        for name in ("amount", "application_fee_amount"):
            if name in params:
                if not str(params[name]).isdigit():
                    return 400, {
                        "error": {
                            "type": "invalid_request_error",
                            "code": "parameter_invalid_integer",
                            "param": name,
                            "message": f"Invalid integer: {params[name]}",
                        }
                    }
                intent[name] = int(params[name])
        for name, value in params.items():
            if name not in ("amount", "application_fee_amount"):
                intent[name] = value
        return 200, intent

    def _create_file(self, params: dict) -> tuple[int, dict]:
        """POST /v1/files (multipart): `file` and `purpose` required, as Stripe checks them."""
        upload = (params.get("_files") or {}).get("file")
        if upload is None:
            return 400, {
                "error": {
                    "type": "invalid_request_error",
                    "code": "parameter_missing",
                    "param": "file",
                    "message": "Missing required param: file.",
                }
            }
        if params.get("purpose") not in {"dispute_evidence", "identity_document", "business_logo"}:
            return 400, {
                "error": {
                    "type": "invalid_request_error",
                    "code": "parameter_invalid_empty",
                    "param": "purpose",
                    "message": f"Invalid purpose: {params.get('purpose')!r}",
                }
            }
        kind = next((k for magic, k in _FILE_TYPES.items() if upload["content"].startswith(magic)), None)
        if kind is None:
            return 400, {
                "error": {
                    "type": "invalid_request_error",
                    "code": "file_upload_invalid",
                    "param": "file",
                    "message": "The file type is not supported for this purpose.",
                }
            }
        obj = {
            "id": new_id("file"),
            "object": "file",
            "purpose": params["purpose"],
            "created": int(time.time()),
            "filename": upload["filename"],
            "size": len(upload["content"]),
            "type": kind,
            "url": None,
        }
        self.objects["files"][obj["id"]] = obj
        self.file_contents[obj["id"]] = upload["content"]
        return 200, obj

    def _update_dispute(self, dispute: dict, params: dict) -> tuple[int, dict]:
        """POST /v1/disputes/{id}: evidence (file fields name files uploaded for dispute evidence) and
        `submit`. A closed dispute, or one whose evidence was submitted, is a 400 as in Stripe."""
        if dispute["status"] in _CLOSED_DISPUTE or dispute["evidence_details"]["submission_count"] > 0:
            return 400, {
                "error": {
                    "type": "invalid_request_error",
                    "code": "dispute_already_closed"
                    if dispute["status"] in _CLOSED_DISPUTE
                    else "dispute_not_updatable",
                    "message": f"This dispute cannot be updated because it has a status of {dispute['status']}.",
                }
            }
        evidence = params.get("evidence") or {}
        for field in FILE_EVIDENCE_FIELDS & set(evidence):
            file = self.objects["files"].get(evidence[field])
            if file is None or file["purpose"] != "dispute_evidence":
                return 400, {
                    "error": {
                        "type": "invalid_request_error",
                        "code": "resource_missing",
                        "param": f"evidence[{field}]",
                        "message": f"No such file upload: '{evidence[field]}'",
                    }
                }
        dispute["evidence"].update(evidence)
        if params.get("submit") == "true":
            dispute["status"] = "warning_under_review" if dispute["status"].startswith("warning") else "under_review"
            dispute["evidence_details"]["submission_count"] += 1
            dispute["evidence_details"]["has_evidence"] = True
        dispute["metadata"].update(params.get("metadata") or {})
        return 200, dispute

    def _create(self, collection: str, params: dict) -> dict:
        now = int(time.time())
        if collection == "invoices":
            obj = {
                "id": new_id("in"),
                "object": "invoice",
                "status": "draft",
                "created": now,
                "currency": params.get("currency", "usd"),
                "amount_due": int(params.get("amount_due", 0) or 0),
                "amount_paid": 0,
                "customer": params.get("customer"),
                "metadata": params.get("metadata", {}),
                "application_fee_amount": int(params.get("application_fee_amount", 0) or 0),
            }
        elif collection == "payment_intents":
            obj = {
                "id": new_id("pi"),
                "object": "payment_intent",
                "status": "requires_payment_method",
                "amount": int(params.get("amount", 0)),
                "currency": params.get("currency", "usd"),
                "amount_received": 0,
                "created": now,
                "metadata": params.get("metadata", {}),
                "description": params.get("description"),
                "latest_charge": None,
                "application_fee_amount": int(params.get("application_fee_amount", 0) or 0),
                "transfer_data": params.get("transfer_data"),
            }
            # Stripe's format: the intent's id, "_secret_", then a random part.
            obj["client_secret"] = f"{obj['id']}_secret_{secrets.token_urlsafe(18).replace('-', 'x').replace('_', 'y')}"
        elif collection == "refunds":
            intent = self.objects["payment_intents"][params["payment_intent"]]
            amount = (
                int(params["amount"])
                if params.get("amount")
                else intent["amount_received"] - intent.get("_amount_refunded", 0)
            )
            intent["_amount_refunded"] = intent.get("_amount_refunded", 0) + amount
            obj = {
                "id": new_id("re"),
                "object": "refund",
                "status": "succeeded",
                "created": now,
                "amount": amount,
                "payment_intent": intent["id"],
                "charge": intent["latest_charge"],
                "currency": intent["currency"],
                "metadata": params.get("metadata", {}),
                "reason": None,
            }
        elif collection == "account_links":
            obj = {
                "object": "account_link",
                "created": now,
                "expires_at": now + 300,
                "url": f"https://connect.stripe.com/setup/e/{params['account']}/{new_id('link')}",
            }
            self.objects[collection][obj["url"]] = {
                **obj,
                "account": params["account"],
                "type": params["type"],
                "refresh_url": params["refresh_url"],
                "return_url": params["return_url"],
            }
            return obj
        else:
            obj = self._new_account(params, now)
        self.objects[collection][obj["id"]] = obj
        return obj

    #: What a new Express account still owes before it may take charges (a subset of Stripe's list).
    NEW_ACCOUNT_REQUIREMENTS = ["business_type", "external_account", "tos_acceptance.date", "tos_acceptance.ip"]

    def _new_account(self, params: dict, now: int) -> dict:
        capabilities = {
            name: "inactive"
            for name, wanted in (params.get("capabilities") or {}).items()
            if str((wanted or {}).get("requested")).lower() == "true"
        }
        due = list(self.NEW_ACCOUNT_REQUIREMENTS)
        return {
            "id": new_id("acct"),
            "object": "account",
            "type": params.get("type", "standard"),
            "country": params.get("country", "US"),
            "email": params.get("email"),
            "default_currency": "usd",
            "created": now,
            "metadata": params.get("metadata", {}),
            "business_profile": params.get("business_profile", {}),
            "capabilities": capabilities,
            "charges_enabled": False,
            "payouts_enabled": False,
            "details_submitted": False,
            "requirements": {
                "currently_due": due,
                "eventually_due": list(due),
                "past_due": list(due),
                "pending_verification": [],
                "errors": [],
                "current_deadline": None,
                "disabled_reason": "requirements.past_due",
            },
        }

    def _account_link_refusal(self, params: dict) -> dict | None:
        """Stripe's answer to an account link it will not make."""
        for name in ("account", "type"):
            if not params.get(name):
                return {"code": "parameter_missing", "param": name, "message": f"Missing required param: {name}."}
        if params["account"] not in self.objects["accounts"]:
            return {
                "code": "resource_missing",
                "param": "account",
                "message": f"No such account: '{params['account']}'",
            }
        if params["type"] not in {"account_onboarding", "account_update"}:
            return {
                "code": "parameter_invalid_string",
                "param": "type",
                "message": "Invalid type: must be one of account_onboarding or account_update",
            }
        if params["type"] == "account_onboarding":
            for name in ("refresh_url", "return_url"):
                if not params.get(name):
                    return {"code": "parameter_missing", "param": name, "message": f"Missing required param: {name}."}
        return None

    def _refund_refusal(self, params: dict) -> dict | None:
        """Stripe's answer to a refund it will not make: an intent without a successful charge, or
        more than what is left unrefunded on the charge."""
        intent = self.objects["payment_intents"].get(params.get("payment_intent") or "")
        if intent is None:
            return {
                "code": "resource_missing",
                "param": "payment_intent",
                "message": f"No such payment_intent: '{params.get('payment_intent')}'",
            }
        if intent["status"] != "succeeded":
            return {
                "code": "charge_not_refundable",
                "message": f"This PaymentIntent ({intent['id']}) does not have a successful charge to refund.",
            }
        left = intent["amount_received"] - intent.get("_amount_refunded", 0)
        if left <= 0:
            return {
                "code": "charge_already_refunded",
                "message": f"Charge {intent['latest_charge']} has already been refunded.",
            }
        if params.get("amount") and (refused := amount_refusal(intent["currency"], params["amount"], charge=False)):
            return refused
        if params.get("amount") and int(params["amount"]) > left:
            return {
                "code": "amount_too_large",
                "param": "amount",
                "message": f"Refund amount ({params['amount']}) is greater than unrefunded amount on charge ({left})",
            }
        return None

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

    # --- what a buyer, a bank or support does on Stripe's side (tests drive them) -----------------
    def links_of(self, account_id: str) -> list[dict]:
        """The account links made for an account, oldest first, with what they were made with."""
        return [link for link in self.objects["account_links"].values() if link["account"] == account_id]

    def complete_onboarding(
        self,
        account_id: str,
        *,
        charges: bool = True,
        payouts: bool = True,
        currently_due: list[str] | None = None,
        past_due: list[str] | None = None,
        disabled_reason: str | None = None,
    ) -> dict:
        """The account holder finishes (or half-finishes) the hosted onboarding. Returns the account."""
        account = self.objects["accounts"][account_id]
        currently_due = list(currently_due or [])
        account.update(charges_enabled=charges, payouts_enabled=payouts, details_submitted=True)
        account["capabilities"] = {
            name: "active" if charges else "inactive" for name in account.get("capabilities", {})
        }
        account["requirements"] = {
            **account.get("requirements", {}),
            "currently_due": currently_due,
            "eventually_due": list(currently_due),
            "past_due": list(past_due or []),
            "disabled_reason": disabled_reason,
        }
        return account

    def account_updated(self, account_id: str, *, created: int | None = None) -> dict:
        """The `account.updated` event Stripe sends about the account as it is now (deliver it with
        `signed_delivery`)."""
        return stripe_event(
            "account.updated",
            json.loads(json.dumps(self.objects["accounts"][account_id])),
            created=created,
            account=account_id,
        )

    def succeed_intent(self, intent_id: str, *, amount_received: int | None = None) -> dict:
        """The buyer pays: the intent succeeds with a charge. Returns the intent."""
        intent = self.objects["payment_intents"][intent_id]
        intent["status"] = "succeeded"
        intent["amount_received"] = intent["amount"] if amount_received is None else amount_received
        intent["latest_charge"] = intent.get("latest_charge") or new_id("ch")
        return intent

    def start_processing(self, intent_id: str) -> dict:
        """The buyer's payment is under way (a bank debit): Stripe will not cancel the intent now."""
        intent = self.objects["payment_intents"][intent_id]
        intent["status"] = "processing"
        return intent

    def charge_of(self, intent_id: str, *, amount_refunded: int | None = None) -> dict:
        """The charge object of a succeeded intent, as `charge.*` events carry it; `amount_refunded`
        is what refunds through this fake added up to unless given."""
        intent = self.objects["payment_intents"][intent_id]
        if amount_refunded is None:
            amount_refunded = intent.get("_amount_refunded", 0)
        return {
            "id": intent["latest_charge"],
            "object": "charge",
            "amount": intent["amount_received"],
            "amount_refunded": amount_refunded,
            "refunded": amount_refunded >= intent["amount_received"],
            "currency": intent["currency"],
            "payment_intent": intent_id,
            "metadata": dict(intent["metadata"]),
        }

    def succeeded_charge_of(self, intent_id: str) -> dict:
        """The charge of a succeeded destination-charge intent, as `charge.succeeded` carries it: its
        application fee (fee_...) and its transfer (tr_...) to the connected account."""
        intent = self.objects["payment_intents"][intent_id]
        intent.setdefault("_fee_id", new_id("fee"))
        intent.setdefault("_transfer_id", new_id("tr"))
        destination = (intent.get("transfer_data") or {}).get("destination")
        return {
            **self.charge_of(intent_id),
            "paid": True,
            "status": "succeeded",
            "application_fee": intent["_fee_id"],
            "application_fee_amount": intent["application_fee_amount"],
            "transfer": intent["_transfer_id"],
            "transfer_data": {"destination": destination},
            "on_behalf_of": None,
        }

    def transfer_of(self, intent_id: str, *, reversed: bool = False) -> dict:
        intent = self.objects["payment_intents"][intent_id]
        charge = self.succeeded_charge_of(intent_id)
        return {
            "id": intent["_transfer_id"],
            "object": "transfer",
            "amount": intent["amount_received"] - intent["application_fee_amount"],
            "currency": intent["currency"],
            "destination": charge["transfer_data"]["destination"],
            "source_transaction": charge["id"],
            "reversed": reversed,
            "metadata": {},
        }

    def application_fee_of(self, intent_id: str) -> dict:
        """The platform's application fee on a succeeded destination charge, as `application_fee.created`
        carries it (`account`: the connected account the charge went to)."""
        intent = self.objects["payment_intents"][intent_id]
        charge = self.succeeded_charge_of(intent_id)
        return {
            "id": intent["_fee_id"],
            "object": "application_fee",
            "amount": intent["application_fee_amount"],
            "amount_refunded": 0,
            "refunded": False,
            "currency": intent["currency"],
            "charge": charge["id"],
            "account": charge["transfer_data"]["destination"],
            "created": int(time.time()),
        }

    def refunded_charge_of(self, intent_id: str) -> dict:
        """The charge after refunds made through this fake, as `charge.refunded` carries it: the
        cumulative `amount_refunded` and the refunds in `refunds.data`, newest first."""
        refunds = sorted(
            (dict(r) for r in self.objects["refunds"].values() if r.get("payment_intent") == intent_id),
            key=lambda r: (r["created"], r["id"]),
            reverse=True,
        )
        return {
            **self.succeeded_charge_of(intent_id),
            "refunds": {"object": "list", "data": refunds, "has_more": False},
        }

    def payout(self, *, amount: int, status: str = "paid", payout_id: str | None = None) -> dict:
        """A connected account's payout to its bank (events about it carry `account`)."""
        return {
            "id": payout_id or new_id("po"),
            "object": "payout",
            "amount": amount,
            "currency": "usd",
            "status": status,
            "arrival_date": int(time.time()),
            "method": "standard",
            "metadata": {},
        }

    def dispute_of(
        self,
        intent_id: str,
        *,
        status: str = "needs_response",
        dispute_id: str | None = None,
        amount: int | None = None,
        due_by: int | None = None,
        reason: str = "fraudulent",
    ) -> dict:
        """The buyer's bank disputes the intent's charge (or the dispute moves to `status`): the
        dispute is kept here (retrieve, update, list) and a copy returned, as `charge.dispute.*` carry it."""
        intent = self.objects["payment_intents"][intent_id]
        dispute_id = dispute_id or new_id("dp")
        dispute = self.objects["disputes"].get(dispute_id)
        if dispute is None:
            dispute = {
                "id": dispute_id,
                "object": "dispute",
                "amount": intent["amount_received"] if amount is None else amount,
                "currency": intent["currency"],
                "charge": intent["latest_charge"],
                "payment_intent": intent_id,
                "reason": reason,
                "created": int(time.time()),
                "livemode": False,
                "is_charge_refundable": False,
                "evidence": {},
                "metadata": {},
                "evidence_details": {
                    "due_by": due_by or int(time.time()) + 7 * 86400,
                    "has_evidence": False,
                    "past_due": False,
                    "submission_count": 0,
                },
            }
            self.objects["disputes"][dispute_id] = dispute
        dispute["status"] = status
        if due_by is not None:
            dispute["evidence_details"]["due_by"] = due_by
        return json.loads(json.dumps(dispute))

    def refund_of(
        self, intent_id: str, *, amount: int, refund_id: str | None = None, status: str = "succeeded"
    ) -> dict:
        """A refund of the intent's charge made in Stripe (the dashboard), as `refund.*` events carry it."""
        intent = self.objects["payment_intents"][intent_id]
        refund = {
            "id": refund_id or new_id("re"),
            "object": "refund",
            "amount": amount,
            "status": status,
            "currency": intent["currency"],
            "charge": intent["latest_charge"],
            "payment_intent": intent_id,
            "created": int(time.time()),
            "metadata": {},
            "reason": None,
        }
        self.objects["refunds"][refund["id"]] = refund
        return dict(refund)


#: The dispute evidence fields that name an uploaded file (the rest are text).
FILE_EVIDENCE_FIELDS = frozenset(
    {
        "cancellation_policy",
        "customer_communication",
        "customer_signature",
        "duplicate_charge_documentation",
        "receipt",
        "refund_policy",
        "service_documentation",
        "shipping_documentation",
        "uncategorized_file",
    }
)


def stripe_event(
    event_type: str,
    data_object: dict,
    *,
    created: int | None = None,
    account: str | None = None,
    event_id: str | None = None,
) -> dict:
    return {
        "id": event_id or new_id("evt"),
        "object": "event",
        "api_version": "2024-06-20",
        "created": created if created is not None else int(time.time()),
        "type": event_type,
        "livemode": False,
        "account": account,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "data": {"object": data_object},
    }


def signed_delivery(event: dict, secret: str, *, timestamp: int | None = None) -> tuple[bytes, str]:
    """The exact bytes Stripe would POST and their `Stripe-Signature` header."""
    body = json.dumps(event, separators=(",", ":"))
    header = stripe.WebhookSignature.generate_signature_header(body, secret, timestamp=timestamp)
    return body.encode(), header
