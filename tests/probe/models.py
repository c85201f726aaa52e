from django.db import models


class ProbeRecord(models.Model):
    """One row per event the probe subscriber handled."""

    event_id = models.UUIDField()
    name = models.CharField(max_length=120)
    received_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.name} {self.event_id}"
