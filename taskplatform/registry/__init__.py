"""Model versions of every kind: register, decide, activate, and their artifacts in the object store."""
