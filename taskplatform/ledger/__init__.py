"""The task ledger: every task's record and events, the tracked task, enqueueing, redelivery, retention."""
