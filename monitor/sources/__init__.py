"""Where observations come from: spool directories, HTTP feeds, Kafka notifications."""

__all__: list[str] = []
