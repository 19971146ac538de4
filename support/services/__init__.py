"""Writes of the support desk: tickets and their conversation, assignment, SLA escalations,
intake (public form and inbound email) and CSAT. Views, tasks and admin call these."""
