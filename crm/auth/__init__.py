"""Signing in: allauth's adapters and form, the session and second-factor rules, and the
receivers that keep the sign-in history and end a deactivated user's sessions."""
