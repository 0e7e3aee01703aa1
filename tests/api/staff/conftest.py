import pytest

from api.config import Settings


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The shared settings, with the audit sealer kept off for the length of a test.

    The app's sealer thread works on the test's own database connection; these tests hash
    passwords for longer than its 2 s interval, and a seal in the middle of a request breaks
    that request's savepoint.
    """
    return settings.model_copy(update={"audit_seal_interval_s": 3600.0})
