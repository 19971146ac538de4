"""Retention services: everything that writes. Views, tasks and receivers call these."""
