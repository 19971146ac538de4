"""The REST API (``/api/v1/``): the framework every app's resources are built on.

- ``authentication``: personal access tokens (``Authorization: Bearer crm_…``) and the
  browser's session (with its CSRF check);
- ``permissions``: a role is needed at all, and a read token reads only;
- ``viewsets``: ``RecordViewSet``, one resource over an entity's selectors (reads, with the same
  visibility as the pages) and services (writes, validated by the pages' own forms), with
  ``ETag`` / ``If-Match`` and ``Idempotency-Key``;
- ``exceptions``: every error as JSON with a status that says what went wrong, never a 500 for
  bad input;
- ``urls``: one router over ``crm.registry.api``, the OpenAPI schema and its docs page.
"""
