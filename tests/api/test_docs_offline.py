"""The API docs (Swagger UI and ReDoc) work without internet: every asset they reference is one of
our own static files, and the static files are served (collectstatic + WhiteNoise, as in production).
"""

import re
from html.parser import HTMLParser

import pytest
from django.core.management import call_command
from django.test import Client, override_settings

DOCS_PAGES = ("/api/v1/docs/", "/api/v1/redoc/")


class _References(HTMLParser):
    def __init__(self):
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in {"src", "href", "spec-url"} and value:
                self.urls.append(value)


def references(html: str) -> list[str]:
    parser = _References()
    parser.feed(html)
    return parser.urls


@pytest.mark.parametrize("page", DOCS_PAGES)
def test_docs_page_references_only_local_urls(page):
    response = Client().get(page)
    assert response.status_code == 200
    html = response.content.decode()
    # No absolute or protocol-relative URL anywhere in the page (tags, inline script, styles).
    assert re.findall(r"(?:https?:)?//[\w.-]+\.\w+", html) == []
    urls = references(html)
    assert urls, "the page loads no assets at all"
    assert all(url.startswith("/") and not url.startswith("//") for url in urls), urls
    assert any(url.startswith("/static/drf_spectacular_sidecar/") for url in urls)


def test_docs_assets_are_served_after_collectstatic(tmp_path):
    static_root = tmp_path / "static"
    with override_settings(STATIC_ROOT=static_root):
        call_command("collectstatic", "--no-input", verbosity=0)
        client = Client()  # a fresh handler: WhiteNoise reads STATIC_ROOT when it starts
        for page in DOCS_PAGES:
            for url in references(client.get(page).content.decode()):
                if not url.startswith("/static/"):
                    continue  # the schema URL, answered by the API itself
                response = client.get(url)
                assert response.status_code == 200, url
                body = b"".join(response.streaming_content) if response.streaming else response.content
                assert len(body) > 100, url
