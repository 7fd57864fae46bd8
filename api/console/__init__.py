"""The operator console at `/painel`: server-rendered pages over the same functions as the JSON API."""
