"""A bare Django project over the product's tables: the reference pages of ``bench/run.py``.

What a plain Django page costs on the same database and the same rows: sessions and
authentication, unmanaged models over ``crm_contact`` and the others, one query for the rows
(joins for the columns shown), a planner estimate for a big list's count, and a plain template
with an HTML table. ``bench/run.py`` serves it with gunicorn beside the product and prints each
product page's latency against its reference (``python bench/run.py --help``).
"""
