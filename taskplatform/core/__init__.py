"""The platform's foundation: settings, the database, errors, health and metrics."""
