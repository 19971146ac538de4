"""Email campaign pages and their public tracking endpoints."""
