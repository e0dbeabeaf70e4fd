"""devhost's function host: indexing function_app.py, HTTP and queue triggers, the console log."""
