"""The lenient-profile hub of the modules that check the tolerant behaviour
(test_hub_read.py, test_hub_export.py): import `module_hub` from here to
override tests/conftest.py's (strict by default) for the whole module."""
import pytest

from conftest import Hub


@pytest.fixture(scope="module")
def module_hub(module_workdir):
    """This module checks the tolerant (lenient-profile) behaviour: batch names as
    filters, exports without stage/taskTypes holding every task, the hub's own
    issue record fields. Pinned here so the suite's default profile does not
    change it; test_hub_profile.py checks the strict side."""
    h = Hub(module_workdir, extra_args=["--profile", "lenient"])
    yield h
    h.stop()
