"""Writes on the marketplace database. Each function is one `atomic(using="marketplace")`.

Provider statistics move with F() expressions in the same transaction as the change that moves
them, computed as "contribution after minus contribution before" of the row that changed, so every
path (create, transition, refund) keeps them equal to `selectors.provider_stats_recompute`.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.core.files import File
from django.db import IntegrityError, connections, transaction
from django.db.models import BigIntegerField, Case, F, Value, When
from django.utils import timezone
from django.utils.text import slugify

from breederhq.errors import Conflict, Gone, IllegalTransition, NotFound, PermissionDenied, ValidationFailed, VersionConflict
from breederhq.email import email_enqueue
from breederhq.files import files_removed_on_failure
from breederhq.currencies import check_stripe_charge
from breederhq.currencies import currency as currency_facts
from breederhq.money import check_amount, check_lines
from breederhq.invoicing import lifecycle
from breederhq.invoicing.due_dates import check_due_date, instant_of_due_date
from breederhq.invoicing.status import ConfirmationEvent, InvoiceStatus
from breederhq.outbox import outbox_enqueue
from marketplace_app import listing_score
from marketplace_app.provider_suspension import require_not_suspended
from marketplace_app.invoicing import MARKETPLACE_INVOICES as KIND
from marketplace_app.models import (
    LISTING_STATES,
    TRANSACTION_STATES,
    MarketplaceContact,
    MarketplaceInvoice,
    MarketplaceInvoiceLineItem,
    MarketplaceTransaction,
    MarketplaceUser,
    Message,
    MessageThread,
    Provider,
    ServiceListing,
    ServiceListingImage,
    UserBlock,
)

DB = "marketplace"
#: A buyer's "I paid" claim falls back to `sent` when the provider has not confirmed it by then.
PENDING_CONFIRMATION_TIMEOUT = timedelta(days=7)


# --- Helpers ---------------------------------------------------------------------------------------


def _get_locked(model, pk, *, manager="objects"):
    try:
        return getattr(model, manager).using(DB).select_for_update().get(pk=pk)
    except model.DoesNotExist:
        raise NotFound(f"{model.__name__} #{pk} does not exist") from None


_BIGINT_MAX = 2**63 - 1


def _saturating_add(field: str, delta: int):
    """`field + delta` that stops at the BIGINT bounds instead of failing the statement (a running
    statistic: a 500 on the sale that would pass 9.2 quintillion cents helps nobody). The CASE tests
    the bound first, so the addition that would overflow is never evaluated."""
    if delta > 0:
        near = When(**{f"{field}__gt": _BIGINT_MAX - delta}, then=Value(_BIGINT_MAX))
    else:
        near = When(**{f"{field}__lt": -_BIGINT_MAX - delta}, then=Value(-_BIGINT_MAX))
    return Case(near, default=F(field) + delta, output_field=BigIntegerField())


def _bump_provider_stats(provider_id: int, *, listings: int = 0, transactions: int = 0, revenue_cents: int = 0):
    changes = {}
    if listings:
        changes["total_listings"] = F("total_listings") + listings
    if transactions:
        changes["total_transactions"] = F("total_transactions") + transactions
    if revenue_cents:
        changes["total_revenue_cents"] = _saturating_add("total_revenue_cents", revenue_cents)
    if changes:
        # all_objects: a soft-deleted provider's history still moves its numbers.
        Provider.all_objects.using(DB).filter(pk=provider_id).update(
            **changes, version=F("version") + 1, updated_at=timezone.now())


def _listing_counts(status: str) -> int:
    return 1 if status == ServiceListing.Status.ACTIVE else 0


def _transaction_counts(status: str) -> int:
    return 0 if status == MarketplaceTransaction.Status.CANCELLED else 1


_REVENUE_STATES = {"paid", "disputed", "refunded"}


def _transaction_revenue(status: str, amount_cents: int, refunded_cents: int) -> int:
    return amount_cents - refunded_cents if status in _REVENUE_STATES else 0


def _is_blocked(*, provider_id: int, user_id: int) -> bool:
    return UserBlock.objects.using(DB).filter(provider_id=provider_id, blocked_user_id=user_id).exists()


def _refuse_if_blocked(*, provider_id: int, user_id: int, action: str, provider_locked: bool = False) -> None:
    """Check for a block with the provider row share-locked first: `user_block_create` locks it
    exclusively, so a block being created concurrently either commits before this check sees the
    table (and refuses) or waits until this transaction is done (the action came first). Shared
    locks do not wait for each other, so buyers are not serialised by it.

    A caller that will update the provider row later in the transaction must lock it for update
    up front instead (`provider_locked=True`): two share-lock holders that both upgrade deadlock."""
    if not provider_locked:
        with connections[DB].cursor() as cursor:
            cursor.execute("SELECT 1 FROM marketplace_providers WHERE id = %s FOR SHARE", [provider_id])
    if _is_blocked(provider_id=provider_id, user_id=user_id):
        raise PermissionDenied(f"This provider has blocked you; you cannot {action}.", code="blocked_by_provider")


def _live_provider(provider_id: int, *, lock: bool = False) -> Provider:
    """The provider, if it still takes listings, messages and sales. Deleted, or its person erased:
    410 `provider_gone` (not there at all: 404)."""
    queryset = Provider.all_objects.using(DB)
    if lock:
        queryset = queryset.select_for_update(no_key=True)
    provider = queryset.filter(pk=provider_id).first()
    if provider is None:
        raise NotFound(f"Provider #{provider_id} does not exist")
    if provider.deleted_at is not None or not MarketplaceUser.objects.using(DB).filter(pk=provider.user_id).exists():
        raise Gone(f"Provider #{provider_id} has left the marketplace: it takes no new messages or purchases.",
                   code="provider_gone")
    return provider


def _require_live_user(user_id: int) -> None:
    if not MarketplaceUser.objects.using(DB).filter(pk=user_id).exists():
        raise NotFound(f"MarketplaceUser #{user_id} does not exist")


def _touch_contact(*, provider_id: int, user_id: int, at=None) -> None:
    """Insert-or-update in one statement: two first contacts at once cannot both insert."""
    now = at or timezone.now()
    MarketplaceContact.objects.using(DB).bulk_create(
        [MarketplaceContact(provider_id=provider_id, user_id=user_id, first_contact_at=now, last_contact_at=now)],
        update_conflicts=True,
        unique_fields=["provider", "user"],
        update_fields=["last_contact_at"],
    )


# --- Providers -------------------------------------------------------------------------------------


def provider_create(
    *,
    user: MarketplaceUser,
    kind: str,
    business_name: str,
    tenant_id: int | None = None,
    city: str = "",
    state: str = "",
    currency: str = "USD",
    payment_mode: str = Provider.PaymentMode.MANUAL,
    description: str = "",
    primary_category: str = "",
) -> Provider:
    if kind == Provider.Kind.BREEDER and tenant_id is None:
        raise ValidationFailed("A breeder provider needs its tenant.", field_errors={"tenant_id": ["Required."]})
    if kind == Provider.Kind.SERVICE_PROVIDER and tenant_id is not None:
        raise ValidationFailed(
            "A service provider has no tenant.", field_errors={"tenant_id": ["Must be empty for service providers."]}
        )
    currency_facts(currency)  # 400 unsupported_currency
    with transaction.atomic(using=DB):
        provider = Provider(
            user=user, kind=kind, tenant_id=tenant_id, business_name=business_name, city=city.strip(),
            state=state.strip().upper(), currency=currency, payment_mode=payment_mode, description=description,
            primary_category=primary_category,
        )
        provider.save(using=DB)
        MarketplaceUser.objects.using(DB).filter(pk=user.pk).update(kind=kind)
        user.kind = kind
    return provider


def marketplace_identity_for(*, tenant_user_id: int, email: str, display_name: str) -> MarketplaceUser:
    """The marketplace identity of a signed-in account, made on first need (linked by `tenant_user_id`).
    An unlinked identity with the same address is linked rather than duplicated: the caller checks that
    the account has confirmed that address."""
    with transaction.atomic(using=DB):
        user = MarketplaceUser.objects.using(DB).select_for_update().filter(tenant_user_id=tenant_user_id).first()
        if user is not None:
            return user
        user = (MarketplaceUser.objects.using(DB).select_for_update()
                .filter(email__iexact=email, tenant_user_id__isnull=True).first())
        if user is not None:
            user.tenant_user_id = tenant_user_id
            user.save(using=DB, update_fields=["tenant_user_id", "updated_at"])
            return user
        try:
            with transaction.atomic(using=DB):
                return MarketplaceUser.objects.using(DB).create(email=email, display_name=display_name[:200] or email,
                                                                tenant_user_id=tenant_user_id)
        except IntegrityError as exc:
            # A simultaneous request of the same account made it first (nothing to lock before it existed).
            mine = MarketplaceUser.objects.using(DB).filter(tenant_user_id=tenant_user_id).first()
            if mine is not None:
                return mine
            raise Conflict("Another marketplace account uses this email address.",
                           code="marketplace_email_taken") from exc


#: Sales still in progress: a provider with any cannot leave the marketplace.
OPEN_TRANSACTION_STATES = ("pending_invoice", "invoiced", "disputed")


def provider_withdraw(*, provider_id: int) -> Provider:
    """The provider leaves the marketplace on its own: its listings are archived and it is soft-deleted
    (through the cross-database registry, so what refers to it keeps resolving). Refused with 409
    `provider_has_open_transactions` while a sale is unfinished (not invoiced, unpaid or disputed)."""
    with transaction.atomic(using=DB):
        provider = _get_locked(Provider, provider_id, manager="all_objects")
        if provider.deleted_at is not None:
            return provider
        open_ids = list(MarketplaceTransaction.objects.using(DB)
                        .filter(provider_id=provider.pk, status__in=OPEN_TRANSACTION_STATES)
                        .order_by("pk").values_list("pk", flat=True)[:20])
        if open_ids:
            raise Conflict("Finish or cancel your open sales before leaving the marketplace.",
                           code="provider_has_open_transactions", extra={"transaction_ids": open_ids})
        _provider_withdraw(user_id=provider.user_id)
        provider.refresh_from_db(using=DB)
    return provider


def _save_provider(provider: Provider, fields: list[str]) -> None:
    """Every service write to a provider row moves its version (the profile's ETag)."""
    provider.version += 1
    provider.save(using=DB, update_fields=[*fields, "version", "updated_at"])


def provider_delete(*, provider_id: int) -> Provider:
    """Soft delete: the provider disappears from search; its history stays."""
    with transaction.atomic(using=DB):
        provider = _get_locked(Provider, provider_id, manager="all_objects")
        if provider.deleted_at is None:
            provider.deleted_at = timezone.now()
            _save_provider(provider, ["deleted_at"])
    return provider


#: What a provider edits on its own public profile (kind, tenant and payment mode have their own paths).
PROVIDER_PROFILE_FIELDS = ("business_name", "description", "city", "state", "primary_category")


def provider_update_profile(*, provider_id: int, expected_version: int | None = None, **changes) -> Provider:
    """Edit the public profile. With `expected_version` (the API always sends it) a provider changed
    since the caller read it is a 409 `version_conflict`, compared under the row lock."""
    unknown = sorted(set(changes) - set(PROVIDER_PROFILE_FIELDS))
    if unknown:
        raise ValidationFailed("Not a profile field.", field_errors={name: ["not editable"] for name in unknown})
    if "business_name" in changes and not str(changes["business_name"]).strip():
        raise ValidationFailed("A business name is required.", field_errors={"business_name": ["Empty."]})
    with transaction.atomic(using=DB):
        provider = _get_locked(Provider, provider_id)
        if expected_version is not None and expected_version != provider.version:
            raise VersionConflict(entity=f"Provider #{provider_id}", expected=expected_version,
                                  current=provider.version)
        normalise = {"city": str.strip, "state": lambda value: value.strip().upper()}  # as provider_create stores them
        for name, value in changes.items():
            setattr(provider, name, normalise.get(name, lambda v: v)(value))
        _save_provider(provider, list(changes))
    return provider


def provider_restore(*, provider_id: int) -> Provider:
    """Undo a soft delete: the provider is listed again (its counters never stopped being kept)."""
    with transaction.atomic(using=DB):
        provider = _get_locked(Provider, provider_id, manager="all_objects")
        if provider.deleted_at is not None:
            provider.deleted_at = None
            _save_provider(provider, ["deleted_at"])
    return provider


# --- Listings --------------------------------------------------------------------------------------


def listing_create(
    *,
    provider_id: int,
    title: str,
    category: str,
    price_cents: int,
    description: str = "",
    state: str = "",
    city: str = "",
    category_metadata: dict | None = None,
    slug: str | None = None,
) -> ServiceListing:
    if category not in ServiceListing.Category.values:
        raise ValidationFailed("Unknown category.", field_errors={"category": [f"'{category}' is not a category."]})
    check_amount("price_cents", price_cents)
    slug = slug or f"{slugify(title)[:100] or 'listing'}-{secrets.token_hex(3)}"
    with transaction.atomic(using=DB):
        provider = _live_provider(provider_id)
        check_amount("price_cents", price_cents, currency=provider.currency)
        listing = ServiceListing(
            provider=provider, slug=slug, title=title, description=description, category=category,
            state=state.strip().upper(), city=city.strip(), price_cents=price_cents, currency=provider.currency,
            category_metadata=category_metadata or {},
        )
        try:
            with transaction.atomic(using=DB):
                listing.save(using=DB)
        except IntegrityError:
            raise ValidationFailed("That slug is taken.", field_errors={"slug": ["Already in use."]}) from None
    return listing


def listing_transition(*, listing_id: int, target: str, expected_version: int | None = None,
                       provider_id: int | None = None) -> ServiceListing:
    """publish (-> active), pause, archive. Moves the provider's active-listing count. With
    `provider_id` the listing must be that provider's (404 otherwise); with `expected_version` a listing
    changed since the caller read it is a 409 `version_conflict`, compared under the row lock."""
    with transaction.atomic(using=DB):
        listing = _get_locked(ServiceListing, listing_id)
        if provider_id is not None and listing.provider_id != provider_id:
            raise NotFound(f"ServiceListing #{listing_id} does not exist")
        _check_listing_version(listing, expected_version)
        LISTING_STATES.check(listing.status, target)
        if target == ServiceListing.Status.ACTIVE:
            from marketplace_app.moderation import require_not_hidden

            require_not_hidden(listing)  # staff's hold (marketplace_app/moderation.py)
            require_not_suspended(listing.provider_id)  # staff's suspension (marketplace_app/provider_suspension.py)
        before = _listing_counts(listing.status)
        listing.status = target
        listing.version += 1
        fields = ["status", "version", "updated_at"]
        if target == ServiceListing.Status.ACTIVE and listing.published_at is None:
            listing.published_at = timezone.now()
            fields.append("published_at")
        listing.save(using=DB, update_fields=fields)
        listing_score.refresh(listing.pk)
        _bump_provider_stats(listing.provider_id, listings=_listing_counts(target) - before)
    return listing


def _check_listing_version(listing: ServiceListing, expected_version: int | None) -> None:
    if expected_version is not None and expected_version != listing.version:
        raise VersionConflict(entity=f"Listing #{listing.pk}", expected=expected_version, current=listing.version)


#: What a provider edits on its own listing (status has its own path: listing_transition).
LISTING_FIELDS = ("title", "description", "category", "price_cents", "city", "state", "category_metadata")


def listing_update(*, listing_id: int, provider_id: int, expected_version: int, **changes) -> ServiceListing:
    """Edit a listing of the provider at the version read. An archived listing is final (409
    `listing_archived`). The search sees the change at once (the search cache's invalidation)."""
    unknown = sorted(set(changes) - set(LISTING_FIELDS))
    if unknown:
        raise ValidationFailed("Not a listing field.", field_errors={name: ["not editable"] for name in unknown})
    if "category" in changes and changes["category"] not in ServiceListing.Category.values:
        raise ValidationFailed("Unknown category.", field_errors={"category": [f"'{changes['category']}' is not a category."]})
    if "price_cents" in changes:
        check_amount("price_cents", changes["price_cents"])
    if "title" in changes and not str(changes["title"]).strip():
        raise ValidationFailed("A title is required.", field_errors={"title": ["Empty."]})
    with transaction.atomic(using=DB):
        listing = _get_locked(ServiceListing, listing_id)
        if listing.provider_id != provider_id:
            raise NotFound(f"ServiceListing #{listing_id} does not exist")
        _check_listing_version(listing, expected_version)
        if listing.status == ServiceListing.Status.ARCHIVED:
            raise Conflict("An archived listing cannot be edited.", code="listing_archived")
        if "price_cents" in changes:
            check_amount("price_cents", changes["price_cents"], currency=listing.currency)
        normalise = {"city": str.strip, "state": lambda value: value.strip().upper()}  # as listing_create stores them
        for name, value in changes.items():
            setattr(listing, name, normalise.get(name, lambda v: v)(value))
        listing.version += 1
        listing.save(using=DB, update_fields=[*changes, "version", "updated_at"])
        listing_score.refresh(listing.pk)
    return listing


def listing_image_add(*, listing_id: int, url: str, caption: str = "", sort_order: int | None = None) -> ServiceListingImage:
    with transaction.atomic(using=DB):
        listing = _get_locked(ServiceListing, listing_id)
        if sort_order is None:
            last = listing.images.using(DB).order_by("-sort_order").values_list("sort_order", flat=True).first()
            sort_order = 0 if last is None else last + 1
        image = ServiceListingImage(listing=listing, url=url, caption=caption, sort_order=sort_order)
        image.save(using=DB)
        listing_score.refresh(listing.pk)
    return image


# --- Transactions ----------------------------------------------------------------------------------


def transaction_create(
    *,
    provider_id: int,
    client_id: int,
    listing_id: int | None = None,
    amount_cents: int | None = None,
    description: str = "",
) -> MarketplaceTransaction:
    with transaction.atomic(using=DB):
        # Locked now because the counters below update this row anyway (see _refuse_if_blocked).
        provider = _live_provider(provider_id, lock=True)
        require_not_suspended(provider.pk)
        _require_live_user(client_id)
        _refuse_if_blocked(provider_id=provider.pk, user_id=client_id, action="buy from them", provider_locked=True)
        if provider.user_id == client_id:
            raise ValidationFailed("A provider cannot buy from itself.")
        listing = None
        if listing_id is not None:
            listing = ServiceListing.objects.using(DB).filter(pk=listing_id, provider_id=provider.pk).first()
            if listing is None or listing.status != ServiceListing.Status.ACTIVE:
                raise ValidationFailed(
                    "That listing is not on sale from this provider.", field_errors={"listing_id": ["Not available."]}
                )
            if amount_cents is None:
                amount_cents = listing.price_cents
            description = description or listing.title
        check_amount("amount_cents", amount_cents, currency=provider.currency)
        tx = MarketplaceTransaction.objects.using(DB).create(
            provider=provider, client_id=client_id, listing=listing, amount_cents=amount_cents,
            currency=provider.currency, description=description,
        )
        _bump_provider_stats(provider.pk, transactions=1)
        _touch_contact(provider_id=provider.pk, user_id=client_id)
    return tx


def _transaction_move(
    tx: MarketplaceTransaction, target: str, *, refunded_cents: int | None = None, partial_refund: bool = False
) -> None:
    """Apply a checked transition (tx is locked) and move the provider's stats by the difference."""
    if not (partial_refund and target == tx.status):  # a partial refund only moves the amount
        TRANSACTION_STATES.check(tx.status, target)
    count_before = _transaction_counts(tx.status)
    revenue_before = _transaction_revenue(tx.status, tx.amount_cents, tx.refunded_cents)
    now = timezone.now()
    tx.status = target
    fields = ["status", "updated_at"]
    if refunded_cents is not None:
        tx.refunded_cents = refunded_cents
        fields.append("refunded_cents")
    if target == MarketplaceTransaction.Status.PAID and tx.paid_at is None:
        tx.paid_at = now
        fields.append("paid_at")
    if target == MarketplaceTransaction.Status.CANCELLED:
        tx.cancelled_at = now
        fields.append("cancelled_at")
    tx.save(using=DB, update_fields=fields)
    _bump_provider_stats(
        tx.provider_id,
        transactions=_transaction_counts(target) - count_before,
        revenue_cents=_transaction_revenue(target, tx.amount_cents, tx.refunded_cents) - revenue_before,
    )


def transaction_attach_invoice(*, transaction_id: int, invoice_type: str, invoice_id: int) -> MarketplaceTransaction:
    """pending_invoice -> invoiced, pointing at exactly one invoice (single invoice strategy).

    Breeders are billed with tenant invoices, service providers with marketplace invoices.
    """
    with transaction.atomic(using=DB):
        tx = _get_locked(MarketplaceTransaction, transaction_id)
        _attach_invoice_locked(tx, invoice_type=invoice_type, invoice_id=invoice_id)
    return tx


def _attach_invoice_locked(tx: MarketplaceTransaction, *, invoice_type: str, invoice_id: int) -> None:
    provider_kind = Provider.all_objects.using(DB).values_list("kind", flat=True).get(pk=tx.provider_id)
    expected = "tenant" if provider_kind == Provider.Kind.BREEDER else "marketplace"
    if invoice_type != expected:
        raise ValidationFailed(
            f"A {provider_kind} bills with a {expected} invoice, not a {invoice_type} one.",
            field_errors={"invoice_type": [f"Must be '{expected}'."]},
        )
    if tx.invoice_id is not None:
        raise Conflict(f"Transaction #{tx.pk} already has a {tx.invoice_type} invoice #{tx.invoice_id}.",
                       code="already_invoiced")
    TRANSACTION_STATES.check(tx.status, MarketplaceTransaction.Status.INVOICED)
    tx.invoice_type, tx.invoice_id = invoice_type, invoice_id
    tx.status = MarketplaceTransaction.Status.INVOICED
    tx.save(using=DB, update_fields=["invoice_type", "invoice_id", "status", "updated_at"])


def transaction_mark_paid(*, transaction_id: int) -> MarketplaceTransaction:
    """Idempotent: a transaction already paid (or past paid) is returned unchanged."""
    with transaction.atomic(using=DB):
        tx = _get_locked(MarketplaceTransaction, transaction_id)
        if tx.status in _REVENUE_STATES:
            return tx
        _transaction_move(tx, MarketplaceTransaction.Status.PAID)
    return tx


def transaction_cancel(*, transaction_id: int) -> MarketplaceTransaction:
    """Cancel; a breeder's tenant invoice for it is voided (if still unpaid) through the outbox.

    A sale billed with a marketplace invoice that is still live (anything but void) is refused with
    409 `void_the_invoice`: cancelling the sale alone would leave that invoice payable, and voiding
    the invoice cancels the sale with it (`marketplace_invoice_void`). Checked here, under the
    transaction's lock, so the API, the back office and tasks all get the rule."""
    with transaction.atomic(using=DB):
        tx = _get_locked(MarketplaceTransaction, transaction_id)
        TRANSACTION_STATES.check(tx.status, MarketplaceTransaction.Status.CANCELLED)  # a paid sale: illegal_transition
        if tx.invoice_type == MarketplaceTransaction.InvoiceType.MARKETPLACE:
            # Read, not locked: invoice services lock the invoice before the transaction, and `void`
            # is final, so a status read after taking the transaction's lock cannot go stale into a
            # wrong "yes".
            invoice_status = (MarketplaceInvoice.objects.using(DB).filter(pk=tx.invoice_id)
                              .values_list("status", flat=True).first())
            if invoice_status is not None and invoice_status != InvoiceStatus.VOID:
                raise Conflict(
                    f"Transaction #{tx.pk} is billed by marketplace invoice #{tx.invoice_id} ({invoice_status}): "
                    f"void the invoice instead, which cancels the sale with it.",
                    code="void_the_invoice", extra={"invoice_id": tx.invoice_id, "invoice_status": invoice_status},
                )
        _transaction_move(tx, MarketplaceTransaction.Status.CANCELLED)
        if tx.invoice_type == MarketplaceTransaction.InvoiceType.TENANT:
            tenant_id = Provider.all_objects.using(DB).values_list("tenant_id", flat=True).get(pk=tx.provider_id)
            outbox_enqueue(using=DB, topic="marketplace.transaction_cancelled",
                           payload={"transaction_id": tx.pk, "invoice_id": tx.invoice_id, "tenant_id": tenant_id})
    return tx


def marketplace_user_erase(*, user_id: int) -> MarketplaceUser:
    """Erase a person from the marketplace: personal fields anonymised, the row soft-deleted (what
    refers to it keeps resolving), their provider (if any) withdrawn — listings archived, provider
    soft-deleted, so it takes no new messages or purchases — and every tenant's contact linked to them
    unlinked through the outbox. Idempotent (erasing again withdraws a provider left live earlier)."""
    with transaction.atomic(using=DB):
        user = _get_locked(MarketplaceUser, user_id, manager="all_objects")
        _provider_withdraw(user_id=user.pk)
        if user.email == f"erased-{user.pk}@erased.invalid":
            return user
        user.email = f"erased-{user.pk}@erased.invalid"
        user.display_name = "Erased user"
        user.phone = ""
        user.deleted_at = user.deleted_at or timezone.now()
        user.save(using=DB, update_fields=["email", "display_name", "phone", "deleted_at", "updated_at"])
        outbox_enqueue(using=DB, topic="marketplace.user_erased", payload={"marketplace_user_id": user.pk})
    return user


def _provider_withdraw(*, user_id: int) -> None:
    """The person's provider leaves the marketplace: every listing not archived yet is archived
    (`listing_transition`, which keeps the counters) and the provider is soft-deleted (`provider_delete`)."""
    provider_id = Provider.all_objects.using(DB).filter(user_id=user_id).values_list("pk", flat=True).first()
    if provider_id is None:
        return
    listings = (ServiceListing.objects.using(DB).filter(provider_id=provider_id)
                .exclude(status=ServiceListing.Status.ARCHIVED).order_by("pk").values_list("pk", flat=True))
    for listing_id in listings:
        listing_transition(listing_id=listing_id, target=ServiceListing.Status.ARCHIVED)
    provider_delete(provider_id=provider_id)


def transaction_dispute(*, transaction_id: int) -> MarketplaceTransaction:
    with transaction.atomic(using=DB):
        tx = _get_locked(MarketplaceTransaction, transaction_id)
        _transaction_move(tx, MarketplaceTransaction.Status.DISPUTED)
    return tx


def transaction_resolve_dispute(*, transaction_id: int, won: bool) -> MarketplaceTransaction:
    """Won: back to paid. Lost: fully refunded."""
    with transaction.atomic(using=DB):
        tx = _get_locked(MarketplaceTransaction, transaction_id)
        if tx.status != MarketplaceTransaction.Status.DISPUTED:
            raise IllegalTransition(entity="MarketplaceTransaction", current=tx.status,
                                    target="paid" if won else "refunded",
                                    allowed=list(TRANSACTION_STATES.allowed_from(tx.status)))
        if won:
            _transaction_move(tx, MarketplaceTransaction.Status.PAID)
        else:
            _transaction_move(tx, MarketplaceTransaction.Status.REFUNDED, refunded_cents=tx.amount_cents)
    return tx


def transaction_refund(*, transaction_id: int, amount_cents: int) -> MarketplaceTransaction:
    with transaction.atomic(using=DB):
        tx = _get_locked(MarketplaceTransaction, transaction_id)
        _transaction_refund_locked(tx, amount_cents)
    return tx


def transaction_refund_to(*, transaction_id: int, refunded_cents: int) -> MarketplaceTransaction:
    """Bring the refunded total up to `refunded_cents` (the billing invoice's); never down."""
    with transaction.atomic(using=DB):
        tx = _get_locked(MarketplaceTransaction, transaction_id)
        if refunded_cents > tx.refunded_cents:
            _transaction_refund_locked(tx, refunded_cents - tx.refunded_cents)
    return tx


def _transaction_refund_locked(tx: MarketplaceTransaction, amount_cents: int) -> None:
    check_amount("amount_cents", amount_cents, allow_zero=False, currency=tx.currency)
    if tx.status not in {MarketplaceTransaction.Status.PAID, MarketplaceTransaction.Status.DISPUTED}:
        TRANSACTION_STATES.check(tx.status, MarketplaceTransaction.Status.REFUNDED)
    refunded = tx.refunded_cents + amount_cents
    if refunded > tx.amount_cents:
        raise ValidationFailed(
            f"Refund of {amount_cents} exceeds what is left to refund ({tx.amount_cents - tx.refunded_cents}).",
            field_errors={"amount_cents": ["Too large."]},
        )
    target = MarketplaceTransaction.Status.REFUNDED if refunded == tx.amount_cents else tx.status
    _transaction_move(tx, target, refunded_cents=refunded, partial_refund=True)


# --- Marketplace invoices --------------------------------------------------------------------------


@dataclass(frozen=True)
class LineItem:
    description: str
    unit_price_cents: int
    quantity: int = 1


# The lifecycle steps are the invoice core's (breederhq/invoicing/lifecycle.py), bound to this kind.
# Actors are marketplace user ids; `actor_label` names who acted otherwise ("stripe", "system:...").


def _lock_invoice(invoice_id: int) -> MarketplaceInvoice:
    return lifecycle.lock(KIND, invoice_id)


def _check_version(invoice: MarketplaceInvoice, expected_version: int | None) -> None:
    lifecycle.check_version(KIND, invoice, expected_version)


def _change(invoice: MarketplaceInvoice, *, action: str, fields: dict | None = None, new_status: str | None = None,
            actor: int | None = None, actor_label: str = "", metadata: dict | None = None) -> MarketplaceInvoice:
    return lifecycle.change(KIND, invoice, action=action, fields=fields, new_status=new_status, actor=actor,
                            actor_label=actor_label, metadata=metadata)


def marketplace_invoice_create(
    *,
    transaction_id: int,
    line_items: list[LineItem],
    tax_cents: int = 0,
    due_date=None,
    actor_id: int | None = None,
) -> MarketplaceInvoice:
    """Bill a service provider's transaction. Locks the provider row and snapshots its payment mode
    onto the invoice: a concurrent mode switch waits, and everything after reads the snapshot.
    `due_date` is also written as the deprecated `due_at` for one release (its midnight UTC)."""
    check_due_date(due_date)
    if not line_items:
        raise ValidationFailed("An invoice needs at least one line item.", field_errors={"line_items": ["Empty."]})
    for item in line_items:
        if item.quantity <= 0 or item.unit_price_cents < 0:
            raise ValidationFailed("Line items need a positive quantity and a non-negative price.",
                                   field_errors={"line_items": ["Invalid line item."]})
    check_amount("tax_cents", tax_cents)
    check_lines(line_items, field="line_items", tax_cents=tax_cents)  # no total can pass BIGINT
    with transaction.atomic(using=DB):
        tx = _get_locked(MarketplaceTransaction, transaction_id)
        provider = Provider.all_objects.using(DB).select_for_update().get(pk=tx.provider_id)
        check_lines(line_items, field="line_items", tax_cents=tax_cents, currency=tx.currency)
        if provider.kind != Provider.Kind.SERVICE_PROVIDER:
            raise PermissionDenied(
                "Breeders bill with their tenant invoice; marketplace invoices are for service providers only.",
                code="breeder_uses_tenant_invoice",
            )
        if tx.invoice_id is not None:
            raise Conflict(f"Transaction #{tx.pk} already has a {tx.invoice_type} invoice #{tx.invoice_id}.",
                           code="already_invoiced")
        TRANSACTION_STATES.check(tx.status, MarketplaceTransaction.Status.INVOICED)
        if provider.payment_mode == Provider.PaymentMode.DISABLED:
            raise Conflict("This provider has marketplace payments disabled.", code="payments_disabled")
        mode = provider.payment_mode
        fallback = None
        if mode == Provider.PaymentMode.STRIPE:
            from breederhq.invoicing.payments import stripe_mode_fallback

            fallback = stripe_mode_fallback(provider_id=provider.pk)
            if fallback is not None and not fallback.allowed:
                raise Conflict(f"Stripe cannot take this payment now ({fallback.reason}).", code="stripe_unavailable")
            if fallback is not None:
                mode = Provider.PaymentMode.MANUAL
        subtotal = sum(item.unit_price_cents * item.quantity for item in line_items)
        sequence = MarketplaceInvoice.objects.using(DB).filter(provider=provider).count() + 1
        invoice = MarketplaceInvoice(
            provider=provider, transaction=tx, client_id=tx.client_id, invoice_number=f"MP-{provider.pk}-{sequence:06d}",
            currency=tx.currency, subtotal_cents=subtotal, tax_cents=tax_cents, total_cents=subtotal + tax_cents,
            payment_mode_snapshot=mode, payment_mode_locked_at=timezone.now(),
            due_date=due_date, due_at=instant_of_due_date(due_date),
        )
        invoice.save(using=DB)
        MarketplaceInvoiceLineItem.objects.using(DB).bulk_create(
            MarketplaceInvoiceLineItem(
                invoice=invoice, description=item.description, quantity=item.quantity,
                unit_price_cents=item.unit_price_cents, total_cents=item.unit_price_cents * item.quantity,
                sort_order=position,
            )
            for position, item in enumerate(line_items)
        )
        _attach_invoice_locked(tx, invoice_type="marketplace", invoice_id=invoice.pk)
        lifecycle.audit(KIND, invoice, action="created", old_status="", actor=actor_id,
                        metadata={"payment_mode_fallback": fallback.reason} if fallback is not None else {})
        if fallback is not None:
            # The flag lives in the tenant database: through the outbox, in this transaction, so it is
            # written exactly once the invoice exists for sure, and a tenant-database error cannot
            # turn the created invoice into a failed request (payments_app/outbox_handlers.py).
            outbox_enqueue(using=DB, topic="payments.record_fallback", payload={
                "invoice_kind": "marketplace", "invoice_id": invoice.pk, "tenant_id": None,
                "reason": fallback.reason, "amount_cents": invoice.total_cents, "currency": invoice.currency,
                "connect_account_id": fallback.account_id})
    return invoice


def marketplace_invoice_send(*, invoice_id: int, expected_version: int, actor_id: int | None = None) -> MarketplaceInvoice:
    with transaction.atomic(using=DB):
        invoice = _lock_invoice(invoice_id)
        _check_version(invoice, expected_version)
        lifecycle.check_send(KIND, invoice)
        if invoice.payment_mode_snapshot == MarketplaceInvoice.PaymentMode.STRIPE:
            check_stripe_charge(invoice.currency, invoice.total_cents)  # Stripe's minimum and maximum
        _change(invoice, action="sent", new_status=InvoiceStatus.SENT, fields={"sent_at": timezone.now()},
                actor=actor_id)
        if invoice.payment_mode_snapshot == MarketplaceInvoice.PaymentMode.STRIPE:
            from breederhq.invoicing.payments import invoice_payment_open_on_commit

            invoice_payment_open_on_commit(invoice_kind="marketplace", invoice_id=invoice.pk, tenant_id=None, using=DB)
    return invoice


def marketplace_invoice_buyer_mark_paid(
    *, invoice_id: int, buyer_id: int, expected_version: int, receipt: File | None = None,
    receipt_url: str | None = None,
) -> MarketplaceInvoice:
    """The buyer says they paid manually: needs a receipt; the provider then confirms.

    The receipt is an uploaded file (checked by the caller: `breederhq.api.uploads.check_receipt`),
    stored through Django's storage (removed again if the write fails); `receipt_url` is the older
    form, a link the buyer gives."""
    with files_removed_on_failure() as stored, transaction.atomic(using=DB):
        invoice = _lock_invoice(invoice_id)
        if invoice.client_id != buyer_id:
            raise NotFound(f"MarketplaceInvoice #{invoice_id} does not exist")
        _check_version(invoice, expected_version)
        if invoice.payment_mode_snapshot != MarketplaceInvoice.PaymentMode.MANUAL:
            raise Conflict("This invoice is paid through Stripe, not marked paid by hand.", code="payment_mode_mismatch")
        if receipt is None and not receipt_url:
            raise ValidationFailed("A manual payment needs a receipt.",
                                   field_errors={"receipt": ["Upload the payment receipt."]})
        lifecycle.check_transition(invoice, InvoiceStatus.PENDING_CONFIRMATION)
        now = timezone.now()
        fields: dict = {"buyer_marked_paid_at": now}
        if receipt is not None:
            stored.save(invoice.buyer_payment_receipt, getattr(receipt, "name", None) or "receipt", receipt)
            fields["buyer_payment_receipt"] = invoice.buyer_payment_receipt.name
        if receipt_url:
            fields["buyer_payment_receipt_url"] = receipt_url
        _change(invoice, action="buyer_marked_paid", new_status=InvoiceStatus.PENDING_CONFIRMATION, fields=fields,
                actor=buyer_id)
        lifecycle.confirmation(KIND, invoice, event=ConfirmationEvent.BUYER_MARKED_PAID, marked_paid_by_id=buyer_id,
                               marked_paid_at=now, payment_method=MarketplaceInvoice.PaymentMode.MANUAL,
                               payment_reference=receipt_url or "")
    return invoice


def marketplace_invoice_mark_paid(
    *, invoice_id: int, source: str, expected_version: int | None = None, actor_id: int | None = None,
    actor_label: str = "",
) -> tuple[MarketplaceInvoice, bool]:
    """Mark paid: by the Stripe webhook (`source="stripe"`) or the provider's manual confirmation
    (`source="manual"`). Locks the row; a second "paid" is a no-op. Returns (invoice, changed).

    `expected_version` is for people editing through the API; the webhook passes none.
    """
    with transaction.atomic(using=DB):
        invoice = _lock_invoice(invoice_id)
        if invoice.paid_at is not None:
            return invoice, False
        _check_version(invoice, expected_version)
        if source != invoice.payment_mode_snapshot:
            raise Conflict(
                f"This invoice was issued for {invoice.payment_mode_snapshot} payment; a {source} payment "
                f"does not settle it.",
                code="payment_mode_mismatch",
            )
        lifecycle.check_transition(invoice, InvoiceStatus.PAID)
        confirming_a_claim = invoice.status == InvoiceStatus.PENDING_CONFIRMATION
        label = actor_label or ("stripe" if source == MarketplaceInvoice.PaymentMode.STRIPE and actor_id is None else "")
        _change(invoice, action="payment_confirmed" if confirming_a_claim else "marked_paid",
                new_status=InvoiceStatus.PAID, fields={"paid_at": timezone.now()}, actor=actor_id,
                actor_label=label, metadata={"method": source, "amount_cents": invoice.total_cents})
        lifecycle.confirmation(KIND, invoice, event=ConfirmationEvent.CONFIRMED, confirmed_by=actor_id,
                               confirmed_by_actor=label, marked_paid_at=invoice.buyer_marked_paid_at,
                               confirmed_at=invoice.paid_at, payment_method=source)
        tx = _get_locked(MarketplaceTransaction, invoice.transaction_id)
        if tx.status not in _REVENUE_STATES:
            _transaction_move(tx, MarketplaceTransaction.Status.PAID)
    return invoice, True


def _back_to_sent(invoice: MarketplaceInvoice, *, action: str, event: str, actor_id: int | None, actor_label: str,
                  metadata: dict | None = None) -> None:
    """pending_confirmation -> sent (a rejection or an expiry), with its confirmation audit row."""
    marked_at = invoice.buyer_marked_paid_at
    _change(invoice, action=action, new_status=InvoiceStatus.SENT, fields={"buyer_marked_paid_at": None},
            actor=actor_id, actor_label=actor_label, metadata=metadata)
    lifecycle.confirmation(KIND, invoice, event=event, confirmed_by=actor_id, confirmed_by_actor=actor_label,
                           marked_paid_at=marked_at, confirmed_at=timezone.now(),
                           payment_method=MarketplaceInvoice.PaymentMode.MANUAL, metadata=metadata or {})


def marketplace_invoice_reject_payment_claim(*, invoice_id: int, expected_version: int | None,
                                             actor_id: int | None = None, actor_label: str = "",
                                             reason: str = "") -> MarketplaceInvoice:
    """pending_confirmation -> sent: the provider did not receive the money, or the claim expired."""
    with transaction.atomic(using=DB):
        invoice = _lock_invoice(invoice_id)
        _check_version(invoice, expected_version)
        lifecycle.require_claim(KIND, invoice, target=InvoiceStatus.SENT, what="reject")
        _back_to_sent(invoice, action="payment_rejected", event=ConfirmationEvent.REJECTED, actor_id=actor_id,
                      actor_label=actor_label, metadata={"reason": reason} if reason else None)
    return invoice


def marketplace_invoice_set_reconciliation_status(*, invoice_id: int, status: str, note: str = "",
                                                  actor_label: str = "") -> MarketplaceInvoice:
    """What Stripe says disagrees (or agrees again) with this invoice, or staff closing a disagreement
    (`resolved`, only on an invoice that disagrees: breederhq/invoicing/lifecycle.py)."""
    with transaction.atomic(using=DB):
        invoice = _lock_invoice(invoice_id)
        if invoice.reconciliation_status != status:
            lifecycle.check_reconciliation_change(KIND, invoice, status)
            _change(invoice, action="reconciliation", fields={"reconciliation_status": status},
                    actor_label=actor_label, metadata={"from": invoice.reconciliation_status, "note": note})
    return invoice


def marketplace_invoice_expire_pending_confirmations(*, now=None) -> int:
    """Beat: claims unconfirmed for 7 days fall back to `sent`. Safe to run twice."""
    cutoff = (now or timezone.now()) - PENDING_CONFIRMATION_TIMEOUT
    expired = 0
    ids = list(
        MarketplaceInvoice.objects.using(DB)
        .filter(status=InvoiceStatus.PENDING_CONFIRMATION, buyer_marked_paid_at__lt=cutoff)
        .values_list("pk", flat=True)
    )
    for invoice_id in ids:
        with transaction.atomic(using=DB):
            invoice = _lock_invoice(invoice_id)
            # Re-checked under the lock: a confirmation may have landed since the scan.
            if invoice.status != InvoiceStatus.PENDING_CONFIRMATION or invoice.buyer_marked_paid_at >= cutoff:
                continue
            _back_to_sent(invoice, action="confirmation_expired", event=ConfirmationEvent.EXPIRED, actor_id=None,
                          actor_label="system:expire_pending")
            expired += 1
    return expired


def marketplace_invoice_void(*, invoice_id: int, expected_version: int, actor_id: int | None = None,
                             actor_label: str = "") -> MarketplaceInvoice:
    """Void an unpaid invoice; the sale is off, so its transaction is cancelled with it."""
    with transaction.atomic(using=DB):
        invoice = _lock_invoice(invoice_id)
        _check_version(invoice, expected_version)
        _change(invoice, action="voided", new_status=InvoiceStatus.VOID, fields={"voided_at": timezone.now()},
                actor=actor_id, actor_label=actor_label)
        tx = _get_locked(MarketplaceTransaction, invoice.transaction_id)
        _transaction_move(tx, MarketplaceTransaction.Status.CANCELLED)
        if invoice.payment_mode_snapshot == MarketplaceInvoice.PaymentMode.STRIPE:
            from breederhq.invoicing.payments import invoice_payment_cancel_on_void

            # Its open payment intent is cancelled (outbox, then a worker) once this void commits.
            invoice_payment_cancel_on_void(invoice_kind="marketplace", invoice_id=invoice.pk, using=DB)
    return invoice


def marketplace_invoice_refund(
    *, invoice_id: int, amount_cents: int, expected_version: int | None = None,
    refunded_total_cents: int | None = None, actor_id: int | None = None, stripe_refund_id: str | None = None,
) -> MarketplaceInvoice:
    """Partial or full refund of a paid invoice; the transaction's refunded amount moves with it.

    `refunded_total_cents` (the Stripe webhook: the processor's cumulative total, `amount_refunded`)
    records only what the invoice lacks, computed under its row lock, so a refund recorded meanwhile
    (the provider's own, through the API) is never counted twice; nothing missing changes nothing.
    `stripe_refund_id` (a card refund): recorded once per refund id (marketplace_app/invoice_refunds.py).
    """
    from marketplace_app.invoice_refunds import refund_already_recorded, refund_record

    check_amount("amount_cents", amount_cents, allow_zero=False)
    with transaction.atomic(using=DB):
        invoice = _lock_invoice(invoice_id)
        if stripe_refund_id and refund_already_recorded(invoice=invoice, stripe_refund_id=stripe_refund_id, using=DB):
            return invoice
        _check_version(invoice, expected_version)
        if refunded_total_cents is not None:
            amount_cents = refunded_total_cents - invoice.refunded_cents
            if amount_cents <= 0:
                return invoice
        refunded = invoice.refunded_cents + amount_cents
        if refunded > invoice.total_cents:
            raise ValidationFailed(
                f"Refund of {amount_cents} exceeds what is left to refund ({invoice.total_cents - invoice.refunded_cents}).",
                field_errors={"amount_cents": ["Too large."]},
            )
        target = InvoiceStatus.REFUNDED if refunded == invoice.total_cents else InvoiceStatus.PARTIALLY_REFUNDED
        _change(invoice, action="refunded", new_status=target, fields={"refunded_cents": refunded}, actor=actor_id,
                actor_label="stripe" if refunded_total_cents is not None else "",
                metadata={"amount_cents": amount_cents})
        tx = _get_locked(MarketplaceTransaction, invoice.transaction_id)
        # The transaction carries the service amount, the invoice may add tax: the transaction is
        # refunded in full with the invoice, and never beyond its own amount before that.
        remaining = tx.amount_cents - tx.refunded_cents
        tx_refund = remaining if target == InvoiceStatus.REFUNDED else min(amount_cents, remaining)
        if tx_refund > 0:
            _transaction_refund_locked(tx, tx_refund)
        if stripe_refund_id:
            refund_record(invoice=invoice, stripe_refund_id=stripe_refund_id, amount_cents=amount_cents, using=DB)
    return invoice


# --- Messaging -------------------------------------------------------------------------------------


def _thread_participant_ids(thread: MessageThread) -> tuple[int, int]:
    provider_user_id = Provider.all_objects.using(DB).values_list("user_id", flat=True).get(pk=thread.provider_id)
    return thread.buyer_id, provider_user_id


def message_thread_open(
    *, buyer_id: int, provider_id: int, body: str, subject: str = "", listing_id: int | None = None
) -> MessageThread:
    if not body.strip():
        raise ValidationFailed("A message cannot be empty.", field_errors={"body": ["Required."]})
    with transaction.atomic(using=DB):
        provider = _live_provider(provider_id)
        require_not_suspended(provider.pk)
        _require_live_user(buyer_id)
        _refuse_if_blocked(provider_id=provider.pk, user_id=buyer_id, action="message them")
        if provider.user_id == buyer_id:
            raise ValidationFailed("You cannot open a thread with yourself.")
        if listing_id is not None and not ServiceListing.objects.using(DB).filter(
            pk=listing_id, provider_id=provider.pk
        ).exists():
            raise ValidationFailed("That listing is not this provider's.", field_errors={"listing_id": ["Unknown."]})
        now = timezone.now()
        thread = MessageThread.objects.using(DB).create(
            provider=provider, buyer_id=buyer_id, listing_id=listing_id, subject=subject, last_message_at=now,
            created_at=now,
        )
        first = Message.objects.using(DB).create(thread=thread, sender_id=buyer_id, body=body, created_at=now)
        _touch_contact(provider_id=provider.pk, user_id=buyer_id, at=now)
        _email_new_message(thread, first, recipient_id=provider.user_id)
    return thread


def message_send(*, thread_id: int, sender_id: int, body: str) -> Message:
    if not body.strip():
        raise ValidationFailed("A message cannot be empty.", field_errors={"body": ["Required."]})
    with transaction.atomic(using=DB):
        # The lock orders messages of one thread with the block check below.
        thread = _get_locked(MessageThread, thread_id)
        buyer_id, provider_user_id = _thread_participant_ids(thread)
        if sender_id not in (buyer_id, provider_user_id):
            # Same answer as for a thread that does not exist: non-participants learn nothing.
            raise NotFound(f"MessageThread #{thread_id} does not exist")
        if sender_id == buyer_id:
            if not MarketplaceUser.objects.using(DB).filter(pk=provider_user_id).exists():
                raise Gone("This provider's account was erased: it takes no new messages.", code="provider_gone")
            _refuse_if_blocked(provider_id=thread.provider_id, user_id=buyer_id, action="message them")
        now = timezone.now()
        message = Message.objects.using(DB).create(thread=thread, sender_id=sender_id, body=body, created_at=now)
        MessageThread.objects.using(DB).filter(pk=thread.pk).update(last_message_at=now)
        if sender_id == buyer_id:
            _touch_contact(provider_id=thread.provider_id, user_id=buyer_id, at=now)
        _email_new_message(thread, message, recipient_id=provider_user_id if sender_id == buyer_id else buyer_id)
    return message


def _email_new_message(thread: MessageThread, message: Message, *, recipient_id: int) -> None:
    recipient = MarketplaceUser.all_objects.using(DB).filter(pk=recipient_id, deleted_at__isnull=True).first()
    if recipient is None:
        return
    sender_name = MarketplaceUser.all_objects.using(DB).values_list("display_name", flat=True).get(pk=message.sender_id)
    email_enqueue(
        using=DB, event_key=f"marketplace_message:{message.pk}", template="marketplace_new_message",
        to=[recipient.email],
        context={"recipient": recipient.display_name, "sender": sender_name, "subject": thread.subject,
                 "excerpt": message.body[:200]},
    )


def message_thread_mark_read(*, thread_id: int, reader_id: int) -> int:
    """Marks read what the *other* participant sent; returns how many messages changed."""
    with transaction.atomic(using=DB):
        try:
            thread = MessageThread.objects.using(DB).get(pk=thread_id)
        except MessageThread.DoesNotExist:
            raise NotFound(f"MessageThread #{thread_id} does not exist") from None
        if reader_id not in _thread_participant_ids(thread):
            raise NotFound(f"MessageThread #{thread_id} does not exist")
        return (
            Message.objects.using(DB)
            .filter(thread_id=thread_id, read_at__isnull=True)
            .exclude(sender_id=reader_id)
            .update(read_at=timezone.now())
        )


# --- Blocks ----------------------------------------------------------------------------------------


def user_block_create(*, provider_id: int, user_id: int, reason: str = "") -> UserBlock:
    """Idempotent: blocking twice keeps the first block."""
    with transaction.atomic(using=DB):
        # Exclusive against the share lock taken by _refuse_if_blocked (no_key: only this row).
        provider = _live_provider(provider_id, lock=True)
        if provider.user_id == user_id:
            raise ValidationFailed("A provider cannot block itself.")
        block, _created = UserBlock.objects.using(DB).get_or_create(
            provider=provider, blocked_user_id=user_id, defaults={"reason": reason}
        )
    return block


def user_block_delete(*, provider_id: int, user_id: int) -> int:
    with transaction.atomic(using=DB):
        deleted, _ = UserBlock.objects.using(DB).filter(provider_id=provider_id, blocked_user_id=user_id).delete()
    return deleted


# --- Stats repair ----------------------------------------------------------------------------------


def provider_stats_fix(*, provider_id: int) -> dict[str, tuple[int, int]]:
    """Set one provider's counters to the recomputation; returns {field: (stored, actual)} changed."""
    from marketplace_app.selectors import provider_stats_recompute

    with transaction.atomic(using=DB):
        provider = _get_locked(Provider, provider_id, manager="all_objects")
        actual = provider_stats_recompute(provider_id=provider_id)
        changed = {
            name: (getattr(provider, name), value)
            for name, value in actual.items()
            if getattr(provider, name) != value
        }
        if changed:
            Provider.all_objects.using(DB).filter(pk=provider_id).update(
                **actual, version=F("version") + 1, updated_at=timezone.now())
    return changed

