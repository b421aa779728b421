"""Soft delete of tenant users. A user is a cross-database reference target (a marketplace identity
points at it by `tenant_user_id`), so the row is never hard-deleted: `user_soft_delete` deactivates
the account (every token it holds is void: `User.save`), stamps `deleted_at` and writes the outbox
message `tenant.user_deleted` in the same transaction, on which the marketplace closes the linked
identity (marketplace_app/tenant_users.py). References keep resolving, marked deleted.

Personal-data erasure (`tenant_app.accounts.account_delete`) anonymises the account and then soft-
deletes it the same way; nothing erases by deleting rows. `User.delete()` and `QuerySet.delete()` go
through `user_soft_delete`; `hard_delete()` is refused while anything still points at the user.
"""

from __future__ import annotations

from django.contrib.auth.models import UserManager as DjangoUserManager
from django.db import models, transaction
from django.utils import timezone

from breederhq.crossdb import _refuse_if_referenced
from breederhq.databases import TENANT_DB
from breederhq.outbox import outbox_enqueue

DB = TENANT_DB
TOPIC = "tenant.user_deleted"


def mark_deleted(user) -> None:
    """Inside the caller's transaction, the user's row locked: deactivated, stamped, announced."""
    if user.deleted_at is not None:
        return
    user.deleted_at = timezone.now()
    user.is_active = False  # save() moves the revocation stamp: every token is void
    user.save(using=DB, update_fields=["deleted_at", "is_active"])
    outbox_enqueue(using=DB, topic=TOPIC, payload={"user_id": user.pk})


def user_soft_delete(*, user_id: int):
    """Soft-delete an account (staff, `User.delete()`); deleting again changes nothing."""
    from tenant_app.models import User

    with transaction.atomic(using=DB):
        user = User.objects.using(DB).select_for_update().get(pk=user_id)
        mark_deleted(user)
    return user


class UserQuerySet(models.QuerySet):
    def delete(self):
        """Soft delete, each account through `user_soft_delete`."""
        pks = list(self.filter(deleted_at__isnull=True).values_list("pk", flat=True))
        for pk in pks:
            user_soft_delete(user_id=pk)
        return len(pks)

    delete.queryset_only = True

    def hard_delete(self):
        """Really delete, refused (nothing deleted) when any of the users is referenced."""
        with transaction.atomic(using=self.db):
            pks = list(self.select_for_update().values_list("pk", flat=True))
            _refuse_if_referenced(self.model, pks)
            return models.QuerySet.delete(self)

    hard_delete.queryset_only = True


class UserManager(DjangoUserManager.from_queryset(UserQuerySet)):
    """Django's user manager (create_user, natural keys), with the soft-deleting queryset. Deleted
    accounts stay visible here (they are inactive, so nobody signs in as them)."""
