"""Messages that could not be applied: the store, and replaying them as tasks."""
