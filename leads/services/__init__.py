"""Services of the leads stage (they write); selectors in ``leads.selectors`` read."""
