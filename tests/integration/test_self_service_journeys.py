"""The two self-service journeys end to end, as a client app drives them: nothing but HTTP.

A real Celery worker (a separate process on the real Redis and the test databases) sends every
email through the file backend of tests/fakes/email_backend.py, renders invoice PDFs and makes
listing thumbnails. The test reads the codes a person would find in their inbox from the emails the
worker actually delivered, never from the database, and learns that the worker is done from the API.

(a) A new service provider: sign up, confirm the address, sign in, join as a provider, create a
    listing, upload two images, reorder them, publish; the worker makes the thumbnails; an anonymous
    search finds the listing and its detail shows the images in order with thumbnails. Then the
    same person resets their password by email.
(b) A new breeder: sign up, confirm, create the business (and own it), edit its profile at a version,
    add a contact, invoice them and send it; the worker emails the invoice with its PDF.
"""

from __future__ import annotations

import io
import itertools
import random
import re
from pathlib import Path

import pytest
from django.test import Client
from PIL import Image

from breederhq.databases import DATABASE_ALIASES
from breederhq.jobs.publish_later import wait_until_published
from tests.api.conftest import body, send_json
from tests.fakes.email_backend import delivered
from tests.waiting import wait_until

pytestmark = [pytest.mark.worker, pytest.mark.django_db(databases=list(DATABASE_ALIASES), transaction=True)]

API = "/api/v1/"
M = "/api/v1/marketplace/"
PASSWORD = "a long self-service passphrase 42"
NEW_PASSWORD = "an even longer self-service passphrase 43"
CODE = re.compile(r"code, if the app asks for it: (\S+)")
_keys = itertools.count(1)


def key(label: str) -> dict:
    return {"Idempotency-Key": f"{label}-{next(_keys)}"}


@pytest.fixture
def outbox(start_celery_worker, tmp_path, settings) -> Path:
    """A real worker that shares the test's file storage and delivers emails as files in `outbox`."""
    folder = tmp_path / "outbox"
    start_celery_worker(
        EMAIL_BACKEND="tests.fakes.email_backend.FlakyFileBackend",
        FLAKY_EMAIL_DIR=str(folder),
        MEDIA_ROOT=str(settings.MEDIA_ROOT),
    )
    return folder


def inbox(folder: Path, to: str, subject_part: str, *, count: int = 1) -> list[dict]:
    """The emails to `to` whose subject has `subject_part`, once the worker delivered `count` of them."""

    def mine() -> list[dict]:
        return [m for m in delivered(folder) if m["to"] == [to] and subject_part.lower() in m["subject"].lower()]

    assert wait_until(lambda: len(mine()) >= count, timeout=60), (
        f"the worker never delivered {subject_part!r} to {to}",
        [m["subject"] for m in delivered(folder)],
    )
    return mine()


class Person:
    """Someone using the client app: their own IP and their current tokens."""

    def __init__(self, email: str, first_name: str):
        self.email, self.first_name = email, first_name
        self.ip = f"10.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}"
        self.tokens: dict = {}

    @property
    def client(self) -> Client:
        headers = {"Authorization": f"Bearer {self.tokens['access']}"} if self.tokens else {}
        return Client(REMOTE_ADDR=self.ip, headers=headers)

    def call(self, method: str, url: str, data=None, *, expect: int = 200, **headers):
        response = (
            send_json(self.client, method, url, data if data is not None else {}, **headers)
            if method in {"post", "patch", "put"}
            else getattr(self.client, method)(url, headers=headers or None)
        )
        assert response.status_code == expect, (method, url, response.status_code, response.content)
        return response

    def sign_in(self, password: str = PASSWORD) -> None:
        self.tokens = body(self.call("post", API + "auth/token/", {"email": self.email, "password": password}))

    def sign_up_and_verify(self, folder: Path) -> Person:
        """Sign up, confirm the address with the code from the email the worker delivered, sign in."""
        self.call(
            "post",
            API + "auth/sign-up/",
            {"email": self.email, "password": PASSWORD, "first_name": self.first_name},
            expect=202,
        )
        [verification] = inbox(folder, self.email, "confirm")
        code = CODE.search(verification["body"]).group(1)
        anonymous = Person(self.email, self.first_name)
        assert body(anonymous.call("post", API + "auth/verify-email/", {"token": code}))["email"] == self.email
        self.sign_in()
        assert body(self.call("get", API + "auth/me/"))["email_verified_at"] is not None
        return self

    def refresh(self) -> None:
        """A new token pair: its claims name what was made since (tenant, marketplace identity)."""
        self.tokens = body(self.call("post", API + "auth/token/refresh/", {"refresh": self.tokens["refresh"]}))


def image_file(kind: str, colour: tuple[int, int, int], name: str) -> io.BytesIO:
    handle = io.BytesIO()
    Image.new("RGB", (900, 600), colour).save(handle, format=kind)
    handle.seek(0)
    handle.name = name
    return handle


def test_a_new_provider_lists_with_images_is_found_publicly_and_resets_the_password(outbox):
    gwen = Person("gwen.groomer@selfservice.test", "Gwen").sign_up_and_verify(outbox)

    # Join as a provider: business name, category, location, description.
    profile = body(
        gwen.call(
            "post",
            M + "providers/me/",
            {
                "business_name": "Gwen's Grooming Garden",
                "primary_category": "grooming",
                "city": "Austin",
                "state": "TX",
                "description": "Calm, careful grooming for anxious dogs.",
            },
            expect=201,
            **key("provider"),
        )
    )
    assert (profile["primary_category"], profile["city"], profile["suspension"]["suspended"]) == (
        "grooming",
        "Austin",
        False,
    )
    gwen.refresh()

    # A listing with two images, put in the other order.
    listing = body(
        gwen.call(
            "post",
            M + "providers/me/listings/",
            {
                "title": "Gentle terrier hand-stripping",
                "category": "grooming",
                "price_cents": 7_500,
                "city": "Austin",
                "state": "TX",
                "description": "Hand-stripping for wire-coated terriers.",
            },
            expect=201,
            **key("listing"),
        )
    )
    images_url = f"{M}providers/me/listings/{listing['id']}/images/"
    first = gwen.client.post(images_url, {"image": image_file("JPEG", (200, 30, 30), "red.jpg"), "caption": "Before"})
    assert first.status_code == 201, first.content
    second = gwen.client.post(images_url, {"image": image_file("PNG", (30, 30, 200), "blue.png"), "caption": "After"})
    assert second.status_code == 201, second.content
    first, second = body(first), body(second)
    assert (first["content_type"], second["content_type"]) == ("image/jpeg", "image/png")
    current = body(gwen.call("get", f"{M}providers/me/listings/{listing['id']}/"))
    reordered = body(
        gwen.call(
            "put",
            images_url + "order/",
            {"image_ids": [second["id"], first["id"]], "version": current["version"]},
            **key("order"),
        )
    )
    assert [image["id"] for image in reordered["images"]] == [second["id"], first["id"]]
    published = body(
        gwen.call(
            "patch",
            f"{M}providers/me/listings/{listing['id']}/",
            {"action": "publish", "version": reordered["listing_version"]},
            **key("publish"),
        )
    )
    assert published["status"] == "active"

    # The worker makes both thumbnails; the provider sees them through its own images endpoint.
    wait_until_published()
    assert wait_until(
        lambda: all(image["thumbnail_url"] for image in body(gwen.call("get", images_url))["images"]), timeout=60
    ), "the worker never made the thumbnails"

    # Anyone finds it and sees the images in the new order, with thumbnails they can fetch.
    anonymous = Client(REMOTE_ADDR="10.9.9.9")
    found = body(anonymous.get(M + "listings/", {"q": "terrier stripping", "state": "TX"}))["results"]
    assert [row["id"] for row in found] == [listing["id"]]
    detail = body(anonymous.get(f"{M}listings/{listing['slug']}/"))
    assert [(image["id"], image["caption"]) for image in detail["images"]] == [
        (second["id"], "After"),
        (first["id"], "Before"),
    ]
    for image in detail["images"]:
        assert image["thumbnail_url"] and "/listing-images/" in image["thumbnail_url"]
        thumbnail = anonymous.get(image["thumbnail_url"])
        assert thumbnail.status_code == 200, image
        content = b"".join(thumbnail.streaming_content) if thumbnail.streaming else thumbnail.content
        small = Image.open(io.BytesIO(content))
        assert thumbnail["Content-Type"] == f"image/{small.format.lower()}" and max(small.size) < 900

    # Forgotten password: the reset code comes by email, the new password signs in, the old does not.
    Person(gwen.email, "Gwen").call("post", API + "auth/password-reset/", {"email": gwen.email}, expect=202)
    [reset] = inbox(outbox, gwen.email, "reset")
    code = CODE.search(reset["body"]).group(1)
    Person(gwen.email, "Gwen").call(
        "post", API + "auth/password-reset/confirm/", {"token": code, "new_password": NEW_PASSWORD}, expect=204
    )
    Person(gwen.email, "Gwen").call(
        "post", API + "auth/token/", {"email": gwen.email, "password": PASSWORD}, expect=401
    )
    gwen.sign_in(NEW_PASSWORD)
    assert body(gwen.call("get", M + "providers/me/"))["business_name"] == "Gwen's Grooming Garden"


def test_a_new_breeder_creates_a_business_edits_it_and_emails_an_invoice_with_its_pdf(outbox):
    jo = Person("jo.breeder@selfservice.test", "Jo").sign_up_and_verify(outbox)

    created = body(
        jo.call(
            "post",
            API + "tenants/",
            {"name": "Jo's Kennels", "invoice_number_prefix": "JO-"},
            expect=201,
            **key("tenant"),
        )
    )
    jo.refresh()  # the new token names the tenant Jo owns
    me = jo.call("get", API + "tenants/me/")
    assert body(me)["id"] == created["id"]
    memberships = body(jo.call("get", API + "auth/me/"))["memberships"]
    assert [(row["tenant_id"], row["role"]) for row in memberships] == [(created["id"], "owner")]

    # The profile, at the version read; a stale version is refused and changes nothing.
    edited = jo.call(
        "patch",
        API + "tenants/me/",
        {"name": "Jo's Country Kennels", "phone": "+1 555 0100"},
        **{"If-Match": me["ETag"]},
        **key("profile"),
    )
    assert (body(edited)["name"], body(edited)["version"]) == ("Jo's Country Kennels", body(me)["version"] + 1)
    stale = jo.call(
        "patch",
        API + "tenants/me/",
        {"name": "Lost update", "version": body(me)["version"]},
        expect=409,
        **key("stale"),
    )
    assert (body(stale)["code"], body(stale)["current_version"]) == ("version_conflict", body(edited)["version"])
    assert body(jo.call("get", API + "tenants/me/"))["name"] == "Jo's Country Kennels"

    contact = body(
        jo.call(
            "post",
            API + "contacts/",
            {"first_name": "Maya", "last_name": "Lopez", "email": "maya@selfservice.test"},
            expect=201,
            **key("contact"),
        )
    )
    invoice = body(
        jo.call(
            "post",
            API + "invoices/",
            {"contact_id": contact["id"], "lines": [{"description": "Puppy deposit", "unit_price_cents": 50_000}]},
            expect=201,
            **key("invoice"),
        )
    )
    assert (invoice["status"], invoice["total_cents"]) == ("draft", 50_000)
    sent = body(
        jo.call(
            "patch", f"{API}invoices/{invoice['id']}/", {"action": "send", "version": invoice["version"]}, **key("send")
        )
    )
    assert (sent["status"], sent["invoice_number"]) == ("sent", "JO-000001")

    # The worker renders the PDF and emails the invoice with it to the contact.
    [email] = inbox(outbox, "maya@selfservice.test", "JO-000001")
    assert "Jo's Country Kennels" in email["subject"]
    [attachment] = email["attachments"]
    assert (attachment["filename"], attachment["mimetype"]) == ("invoice-JO-000001.pdf", "application/pdf")
    # The attached PDF is the invoice's document the owner downloads.
    documents = body(jo.call("get", f"{API}invoices/{invoice['id']}/documents/"))["results"]
    assert [row["sha256"] for row in documents] == [attachment["sha256"]]
