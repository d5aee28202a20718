"""Notifications: an outbox of events and signed webhook deliveries to allowlisted hosts."""
