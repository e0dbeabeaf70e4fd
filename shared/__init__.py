"""The copy service's own logic: importable and testable without any Functions runtime."""
