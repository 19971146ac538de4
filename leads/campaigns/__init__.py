"""Email campaigns: a segment of contacts mailed with A/B variants, tracked per recipient, with
outcomes (replies, conversions) and first/last-touch revenue credited to marketing campaigns.

A subpackage of ``leads``, not an app of its own: its models keep the app label ``leads``, their
tables and their migrations (``leads/migrations``); ``leads.models`` imports
``leads.campaigns.models`` so Django registers them. A separate app would need a migration that
moves the models' state (and tables) to a new label without losing data.
"""
