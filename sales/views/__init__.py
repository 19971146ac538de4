"""Sales pages, one module per screen: deals (list, detail, forms, win and lose), the board,
line items, the forecast, quotes, orders and onboarding.

Views stay thin: they fetch through ``sales.selectors`` (404 outside a user's reach), validate
with a form and call one service."""
