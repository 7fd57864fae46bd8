"""Raspberry Pi health checks: their message format and the device fleet's status."""
