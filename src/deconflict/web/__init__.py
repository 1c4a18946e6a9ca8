"""The operations console: a browser client of the public ``/v1`` API, served by the service."""
