"""Campaigns: test plans run against submitted models through Inspect, on a database job queue."""
