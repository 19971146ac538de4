"""Dashboards: a small framework (``base``) and one module of figures per dashboard."""
