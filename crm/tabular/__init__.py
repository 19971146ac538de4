"""Import and export of the main records as CSV and XLSX (README, "Import and export").

Each app registers its record kinds in ``crm.registry.tabular`` from its ``apps.py``: the columns
(how each is read for a file and parsed back from one), the keys a row may match an existing record
by, the selector that says what a user may see and change, and the services that create and
update (the same ones the forms call). ``crm`` knows the kinds only through the registry.

- ``columns``: a column and its value types (text, choice, yes/no, number, date, a user, a
  record named by a natural key);
- ``kinds``: a record kind and the registry;
- ``export``: the rows a list page shows, streamed as CSV or written row by row to XLSX;
- ``files``: reading an uploaded CSV or XLSX file row by row, and the XLSX upload checks;
- ``imports``: the import job (preview and dry run, then a leased, checkpointed run).
"""
