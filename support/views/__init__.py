"""Support desk pages, one module per screen: ``tickets`` (the ticket lists and queue views,
opening a ticket), ``bulk`` (changing ticked tickets), ``ticket`` (the ticket page, its actions
and attachments), ``canned`` (canned replies), ``queues`` (queues and shifts) and ``public``
(the customer's request form, the inbound email webhook and the CSAT survey).

Every record is fetched through ``support.selectors`` (visible for reading, changeable for
actions), so a record out of reach answers 404."""
