"""pytest configuration: fails early with a plain message when the binaries are not built."""
import pytest

from harness import BIN


def pytest_sessionstart(session):
    if not BIN.is_dir():
        pytest.exit(f"no binaries in {BIN}: run 'make' first", returncode=2)


@pytest.fixture
def services():
    """Collects started services and stops them at teardown (checking for sanitizer reports).

        def test_x(services, tmp_path):
            c = services.add(Service("reflex-classifier", tmp_path, {...})).start()
    """
    class Registry(list):
        def add(self, svc):
            self.append(svc)
            return svc

    reg = Registry()
    yield reg
    errors = []
    for svc in reversed(reg):
        try:
            svc.stop(check=True)
        except AssertionError as e:
            errors.append(str(e))
    if errors:
        pytest.fail("\n".join(errors))
