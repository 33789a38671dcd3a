"""Zuora Workflow Manager: a live catalog of Zuora Workflows, kept in sync by a durable job system."""

__version__ = "0.1.0"
