# The browser fixtures serve tests in several folders, so they are a plugin registered here.
pytest_plugins = ["tests.browser"]


def pytest_addoption(parser):
    parser.addoption(
        "--services-only", action="store_true",
        help="run only the tests that use the database or the broker (the PostgreSQL + Redis leg of CI): the "
        "others -- model numerics, file formats, pure functions -- would run the same code a second time",
    )
