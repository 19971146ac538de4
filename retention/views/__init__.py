"""Retention pages, one module per screen: subscriptions, renewals, usage (CSV import and the
usage API), risk (at-risk list, churn), upsell, NPS, advocacy, and the public pages."""
