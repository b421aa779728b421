import pytest


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    """Uploaded receipts go to a per-test directory, not the developer's .local/media."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
