"""An email's page in the admin shows it rendered: the HTML part in a sandboxed iframe (no scripts,
no forms, no access to the admin), the text part as text; the resend action is on the same page."""

from __future__ import annotations

import html

import pytest
from django.urls import reverse

from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from breederhq.models import MarketplaceDbOutboundEmail, TenantDbOutboundEmail

pytestmark = pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB])

HTML_BODY = '<p>Hello <b>Maya</b></p><script>alert("x")</script>'


@pytest.mark.parametrize(
    "model, alias", [(TenantDbOutboundEmail, TENANT_DB), (MarketplaceDbOutboundEmail, MARKETPLACE_DB)]
)
def test_the_email_page_renders_html_in_a_sandboxed_iframe_and_the_text(superuser_client, model, alias):
    email = model.objects.using(alias).create(
        event_key=f"test:preview:{alias}",
        template="welcome",
        to=["maya@example.test"],
        subject="Welcome",
        text_body="Hello Maya,\nwelcome aboard.",
        html_body=HTML_BODY,
    )
    info = (model._meta.app_label, model._meta.model_name)
    page = superuser_client.get(reverse("admin:{}_{}_change".format(*info), args=[email.pk]))
    assert page.status_code == 200
    content = page.content.decode()
    assert (
        f'<iframe sandbox="" referrerpolicy="no-referrer" title="HTML body" srcdoc="{html.escape(HTML_BODY)}"'
        in content
    )
    assert '<script>alert("x")</script>' not in content  # only ever inside the sandbox, escaped
    assert "<pre" in content and "Hello Maya,\nwelcome aboard." in content
    assert (
        'value="resend_email"' in superuser_client.get(reverse("admin:{}_{}_changelist".format(*info))).content.decode()
    )
