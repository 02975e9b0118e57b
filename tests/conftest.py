"""Session-wide test settings."""

import os

import pytest


@pytest.fixture(scope="session", autouse=True)
def _private_text_embedding_cache(tmp_path_factory):
    """Tests (and the CLIs they start) cache caption embeddings in a fresh directory, never in the
    user's ~/.cache, so a run neither depends on nor changes what earlier runs left there."""
    old = os.environ.get("ROPAR_TEXT_CACHE")
    os.environ["ROPAR_TEXT_CACHE"] = str(tmp_path_factory.mktemp("text-embeddings"))
    yield
    if old is None:
        os.environ.pop("ROPAR_TEXT_CACHE", None)
    else:
        os.environ["ROPAR_TEXT_CACHE"] = old
