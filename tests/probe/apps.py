from django.apps import AppConfig


class ProbeConfig(AppConfig):
    """A test-only app with an idempotent subscriber, loaded by tests.settings."""

    name = "tests.probe"
    label = "probe"

    def ready(self) -> None:
        from tests.probe import subscribers  # noqa: F401
