"""Kafka I/O: the embedded broker, topic admin, the worker, produce and tail."""
