from django.contrib.auth.models import AbstractUser
from django.db import models


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
