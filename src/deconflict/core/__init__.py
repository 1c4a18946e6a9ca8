"""The domain: declarations, conflicts, visibility, events.

Nothing in here knows about HTTP or SQL, so the same rules hold whether a party speaks
through the API, the CLI or a test.
"""
