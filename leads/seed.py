def seed(ctx):
    """Demo data; filled in below."""
