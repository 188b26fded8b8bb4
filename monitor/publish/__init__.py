"""Getting results out: Kafka client settings, topics, the local broker, the outbox."""

__all__: list[str] = []
