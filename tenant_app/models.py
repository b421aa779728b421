from django.contrib.auth.models import AbstractUser
from django.db import models

from breederhq.crossdb import SoftDeleteModel


class User(AbstractUser):
    """A person who signs in to the tenant side or the back office.

    Custom from the first migration so the user table can grow without a swap later. Email is the
    login identity people know; it is unique case-insensitively.
    """

    email = models.EmailField("email address", unique=True)

    class Meta:
        db_table = "users"
        constraints = [
            models.UniqueConstraint(models.functions.Lower("email"), name="users_email_lower_unique"),
        ]


class Tenant(SoftDeleteModel):
    """A breeder business: owns its staff memberships, contacts, invoices and payments."""

    class PaymentMode(models.TextChoices):
        STRIPE = "stripe", "Stripe"
        MANUAL = "manual", "Manual (bank transfer, cash)"
        DISABLED = "disabled", "Marketplace payments disabled"

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    marketplace_payment_mode = models.CharField(
        max_length=20, choices=PaymentMode.choices, default=PaymentMode.MANUAL
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "tenants"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(marketplace_payment_mode__in=["stripe", "manual", "disabled"]),
                name="tenants_payment_mode_valid",
            ),
        ]

    def __str__(self) -> str:
        return self.name
