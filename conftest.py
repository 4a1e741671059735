# The browser fixtures serve tests in several folders, so they are a plugin registered here.
pytest_plugins = ["tests.browser"]
