"""Listing images through HTTP: a provider uploads (type by content, size and pixel limits, metadata
stripped), orders and deletes the images of its own listing; a real worker makes the thumbnails;
the public detail and search show them in order, the search in a constant number of queries."""

from __future__ import annotations

import io
import json
import os

import pytest
from django.db import connections
from django.test import Client
from django.test.utils import CaptureQueriesContext
from PIL import Image

from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from marketplace_app.models import ServiceListing, ServiceListingImage
from tests.api.conftest import body, send_json
from tests.api.test_concurrency import run_together
from tests.api.test_provider_self_service import GROOMING, LISTINGS, provider_client
from tests.waiting import wait_until

pytestmark = pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB])

SEARCH = "/api/v1/marketplace/listings/"


def image_bytes(kind: str = "JPEG", size=(64, 48), exif: bool = False) -> bytes:
    image = Image.new("RGB", size, (200, 30, 30))
    out = io.BytesIO()
    options = {}
    if exif:
        data = Image.Exif()
        data[0x010F] = "SecretCam"  # Make
        data[0x0131] = "where-i-live 51.5N"  # Software, a stand-in for anything private
        options["exif"] = data.tobytes()
    image.save(out, format=kind, **options)
    return out.getvalue()


def upload(client, listing_id, data: bytes, *, name="photo.jpg", content_type="image/jpeg", **fields):
    handle = io.BytesIO(data)
    handle.name = name
    return client.post(f"{LISTINGS}{listing_id}/images/", {"image": handle, **fields})


def own_listing(client) -> dict:
    created = send_json(client, "post", LISTINGS, GROOMING)
    assert created.status_code == 201, created.content
    return body(created)


def publish(client, listing: dict) -> None:
    current = body(client.get(f"{LISTINGS}{listing['id']}/"))["version"]
    response = send_json(client, "patch", f"{LISTINGS}{listing['id']}/", {"action": "publish", "version": current})
    assert response.status_code == 200, response.content


def test_an_upload_is_stored_re_encoded_without_metadata_and_served_by_its_content():
    client, _ = provider_client()
    listing = own_listing(client)
    original = image_bytes(exif=True)
    assert b"SecretCam" in original
    # The client's name and type lie; the bytes decide.
    response = upload(client, listing["id"], original, name="photo.gif", content_type="image/gif", caption="Front")
    assert response.status_code == 201, response.content
    image = body(response)
    assert (image["content_type"], image["width"], image["height"], image["caption"]) == ("image/jpeg", 64, 48, "Front")
    assert image["thumbnail_url"] is None and response["ETag"] == '"2"'

    stored = ServiceListingImage.objects.using(MARKETPLACE_DB).get(pk=image["id"])
    data = stored.original.read()
    assert data.startswith(b"\xff\xd8\xff") and b"SecretCam" not in data and b"Exif" not in data
    assert not Image.open(io.BytesIO(data)).getexif()

    own_file = client.get(image["url"])
    assert own_file.status_code == 200 and own_file["Content-Type"] == "image/jpeg"
    assert b"".join(own_file.streaming_content) == data
    public_url = f"/api/v1/marketplace/listing-images/{image['id']}/original/"
    assert Client().get(public_url).status_code == 404  # a draft's image is not public
    publish(client, listing)
    assert Client().get(public_url).status_code == 200


@pytest.mark.parametrize("kind", ["PNG", "WEBP"])
def test_png_and_webp_are_accepted(kind):
    client, _ = provider_client()
    listing = own_listing(client)
    response = upload(client, listing["id"], image_bytes(kind), name="x.jpg")
    assert response.status_code == 201, response.content
    assert body(response)["content_type"] == f"image/{kind.lower()}"


@pytest.mark.parametrize(
    "data",
    [
        b"GIF89a" + b"\x00" * 100,
        b"%PDF-1.7 not an image",
        b"<svg xmlns='http://www.w3.org/2000/svg'></svg>",
        b"",
    ],
)
def test_other_types_are_415_and_store_nothing(data):
    client, _ = provider_client()
    listing = own_listing(client)
    response = upload(client, listing["id"], data, name="photo.jpg")
    if data:
        assert (response.status_code, body(response)["code"]) == (415, "unsupported_image_type"), response.content
    else:
        assert response.status_code in (400, 415)
    assert not ServiceListingImage.objects.using(MARKETPLACE_DB).filter(listing_id=listing["id"]).exists()
    assert ServiceListing.objects.using(MARKETPLACE_DB).get(pk=listing["id"]).version == 1


def test_a_truncated_image_is_400_image_unreadable():
    client, _ = provider_client()
    listing = own_listing(client)
    response = upload(client, listing["id"], image_bytes()[:40])
    assert (response.status_code, body(response)["code"]) == (400, "image_unreadable")


def test_too_many_bytes_is_413(settings):
    settings.LISTING_IMAGE_MAX_BYTES = 500
    client, _ = provider_client()
    listing = own_listing(client)
    response = upload(client, listing["id"], image_bytes(size=(300, 300), kind="PNG") + b"\x00" * 600)
    assert (response.status_code, body(response)["code"], body(response)["max_bytes"]) == (413, "image_too_large", 500)


def test_a_decompression_bomb_is_refused_from_its_header(settings):
    """A small PNG whose header says 20000x20000: refused before any pixel is decoded."""
    settings.LISTING_IMAGE_MAX_PIXELS = 1_000_000
    client, _ = provider_client()
    listing = own_listing(client)
    bomb = io.BytesIO()
    Image.new("1", (12000, 12000)).save(bomb, format="PNG")  # a few KB compressed, 144 M pixels
    assert len(bomb.getvalue()) < 200_000
    response = upload(client, listing["id"], bomb.getvalue(), name="bomb.png")
    assert (response.status_code, body(response)["code"], body(response)["max_pixels"]) == (
        413,
        "image_too_large",
        1_000_000,
    )
    assert not ServiceListingImage.objects.using(MARKETPLACE_DB).filter(listing_id=listing["id"]).exists()


def test_the_per_listing_limit_is_409_too_many_images(settings):
    settings.LISTING_IMAGES_PER_LISTING = 2
    client, _ = provider_client()
    listing = own_listing(client)
    for _ in range(2):
        assert upload(client, listing["id"], image_bytes()).status_code == 201
    refused = upload(client, listing["id"], image_bytes())
    assert (refused.status_code, body(refused)["code"], body(refused)["max_images"]) == (409, "too_many_images", 2)


def test_another_providers_listing_takes_no_image():
    owner, _ = provider_client()
    listing = own_listing(owner)
    stranger, _ = provider_client()
    assert upload(stranger, listing["id"], image_bytes()).status_code == 404
    assert stranger.get(f"{LISTINGS}{listing['id']}/images/").status_code == 404


def test_reorder_at_the_version_read_and_delete_removes_the_files(django_capture_on_commit_callbacks):
    client, _ = provider_client()
    listing = own_listing(client)
    ids = [body(upload(client, listing["id"], image_bytes()))["id"] for _ in range(3)]
    state = body(client.get(f"{LISTINGS}{listing['id']}/images/"))
    assert [row["id"] for row in state["images"]] == ids and state["listing_version"] == 4

    stale = send_json(client, "put", f"{LISTINGS}{listing['id']}/images/order/", {"image_ids": ids[::-1], "version": 3})
    assert (stale.status_code, body(stale)["code"], body(stale)["current_version"]) == (409, "version_conflict", 4)
    for wrong in ([ids[0], ids[1]], [ids[0], ids[0], ids[1]], [*ids, 10**12]):
        response = send_json(
            client, "put", f"{LISTINGS}{listing['id']}/images/order/", {"image_ids": wrong, "version": 4}
        )
        assert (response.status_code, body(response)["code"]) == (400, "image_ids_mismatch"), wrong
    moved = send_json(
        client, "put", f"{LISTINGS}{listing['id']}/images/order/", {"image_ids": ids[::-1]}, **{"If-Match": '"4"'}
    )
    assert moved.status_code == 200 and [row["id"] for row in body(moved)["images"]] == ids[::-1]
    assert body(moved)["listing_version"] == 5

    doomed = ServiceListingImage.objects.using(MARKETPLACE_DB).get(pk=ids[1])
    path = doomed.original.path
    assert os.path.exists(path)
    with django_capture_on_commit_callbacks(using=MARKETPLACE_DB, execute=True):
        deleted = client.delete(f"{LISTINGS}{listing['id']}/images/{ids[1]}/", headers={"If-Match": '"5"'})
    assert deleted.status_code == 200, deleted.content
    assert [row["id"] for row in body(deleted)["images"]] == [ids[2], ids[0]]
    assert not ServiceListingImage.objects.using(MARKETPLACE_DB).filter(pk=ids[1]).exists()
    assert not os.path.exists(path)  # after the commit


def test_a_failed_delete_keeps_the_row_and_its_file():
    client, _ = provider_client()
    listing = own_listing(client)
    image_id = body(upload(client, listing["id"], image_bytes()))["id"]
    path = ServiceListingImage.objects.using(MARKETPLACE_DB).get(pk=image_id).original.path
    stale = client.delete(f"{LISTINGS}{listing['id']}/images/{image_id}/", headers={"If-Match": '"1"'})
    assert stale.status_code == 409
    assert ServiceListingImage.objects.using(MARKETPLACE_DB).filter(pk=image_id).exists() and os.path.exists(path)


def test_the_public_detail_and_search_show_the_ordered_images_in_constant_queries():
    client, user = provider_client()
    listings = [own_listing(client) for _ in range(3)]
    for listing in listings:
        for _ in range(2):
            assert upload(client, listing["id"], image_bytes()).status_code == 201
        publish(client, listing)
    detail = body(Client().get(f"{SEARCH}{listings[0]['slug']}/"))
    assert [image["sort_order"] for image in detail["images"]] == [0, 1]
    assert detail["images"][0]["url"].startswith("http://testserver/api/v1/marketplace/listing-images/")

    def search_queries() -> int:
        with CaptureQueriesContext(connections[MARKETPLACE_DB]) as queries:
            found = body(Client().get(SEARCH))
        assert all(len(row["images"]) == 2 for row in found["results"])
        return len(queries)

    few = search_queries()
    more = own_listing(client)
    for _ in range(2):
        upload(client, more["id"], image_bytes())
    publish(client, more)
    assert search_queries() == few


@pytest.mark.slow
@pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB], transaction=True)
def test_two_uploads_racing_for_the_last_place_one_wins(settings):
    settings.LISTING_IMAGES_PER_LISTING = 2
    client, user = provider_client()
    listing = own_listing(client)
    assert upload(client, listing["id"], image_bytes()).status_code == 201
    data = image_bytes()
    authorization = client.defaults.get("HTTP_AUTHORIZATION") or client.headers["Authorization"]

    def one():
        response = upload(Client(headers={"Authorization": authorization}), listing["id"], data)
        return response.status_code, json.loads(response.content).get("code")

    results = run_together(2, one)
    assert sorted(results, key=str) == [(201, None), (409, "too_many_images")], results
    assert ServiceListingImage.objects.using(MARKETPLACE_DB).filter(listing_id=listing["id"]).count() == 2
    stored = set(os.listdir(os.path.join(settings.MEDIA_ROOT, "marketplace", "listing-images", str(listing["id"]))))
    names = {
        os.path.basename(i.original.name)
        for i in ServiceListingImage.objects.using(MARKETPLACE_DB).filter(listing_id=listing["id"])
    }
    assert stored == names  # the loser's file was not left behind


@pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB], transaction=True)
def test_a_real_worker_makes_the_thumbnail(start_celery_worker, settings):

    from breederhq.jobs.publish_later import wait_until_published

    start_celery_worker(MEDIA_ROOT=settings.MEDIA_ROOT)
    client, _ = provider_client()
    listing = own_listing(client)
    image_id = body(upload(client, listing["id"], image_bytes(size=(1200, 900))))["id"]
    wait_until_published()

    def stored_image():
        return ServiceListingImage.objects.using(MARKETPLACE_DB).get(pk=image_id)

    assert wait_until(lambda: stored_image().thumbnail, timeout=30, interval=0.2), "no thumbnail within 30 s"
    image = stored_image()
    thumbnail = Image.open(image.thumbnail.open("rb"))
    assert max(thumbnail.size) == settings.LISTING_IMAGE_THUMBNAIL_PIXELS and thumbnail.format == "JPEG"
    shown = body(client.get(f"{LISTINGS}{listing['id']}/images/"))["images"][0]
    response = client.get(shown["thumbnail_url"])
    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
