"""Every model change has its migration: the models and the migrations' state agree (a state-only
move such as payments_app 0006 included)."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from breederhq.databases import DATABASE_ALIASES


@pytest.mark.django_db(databases=list(DATABASE_ALIASES))
def test_makemigrations_finds_nothing_to_write():
    out = io.StringIO()
    call_command("makemigrations", "--check", "--dry-run", stdout=out, stderr=out)  # SystemExit(1) on changes
    assert "No changes detected" in out.getvalue()
