"""UX sessions: their message format, stored in the object store."""
