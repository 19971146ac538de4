"""The rollups as they were computed in Python, row by row: the reference the SQL rebuild is
checked against (``test_sql_rollups``). Not used by the product."""
