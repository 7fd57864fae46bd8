"""Celery and the brokers: the app, queues, task names, the schedule and raw-queue consumers."""
