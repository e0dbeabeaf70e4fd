"""The Durable Functions engine of devhost: SDK out-of-proc protocol, SQLite history, HTTP API."""

from devhost.durable.engine import ActivityRunner, DurableEngine, DurableError, OrchestratorRunner

__all__ = ["ActivityRunner", "DurableEngine", "DurableError", "OrchestratorRunner"]
