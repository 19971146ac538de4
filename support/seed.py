"""Demo data of the support desk (filled in below)."""


def seed(ctx):
    return None
