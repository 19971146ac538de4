"""Email campaign services: authoring, sending, outcomes and attribution."""
