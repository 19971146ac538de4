"""What the leads stage tells later stages (DESIGN.md: earlier stages signal, later ones listen).

Receivers run inside the sender's transaction, so a conversion stays one atomic step.
"""

from django.dispatch import Signal

# Sent by leads.services.lead_convert once the lead is converted, inside its transaction.
# kwargs: lead, account, contact, user, create_opportunity (bool), opportunity_name (str),
# opportunity_amount (Decimal | None). A receiver that creates an opportunity appends it to the
# list passed as ``created`` so the caller can link to it.
lead_converted = Signal()
