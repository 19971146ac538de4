"""What the sales stage tells later stages (DESIGN.md: earlier stages signal, later ones listen).

Both are sent inside the closing transaction, so a receiver's writes commit or roll back with
the close; receivers must not do slow work inline (enqueue on ``transaction.on_commit``).
"""

from django.dispatch import Signal

# Sent by sales.services.opportunity_close_won the first time a deal is won (never on a repeated
# win of the same deal). kwargs: opportunity, order (the Order recorded for it), user.
opportunity_won = Signal()

# Sent by sales.services.opportunity_close_lost the first time a deal is lost.
# kwargs: opportunity, user.
opportunity_lost = Signal()
