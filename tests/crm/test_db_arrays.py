"""Arrays passed to PostgreSQL as one text parameter (``crm.db.array_literal``)."""

import pytest
from django.db import connection

from crm.db import array_literal

pytestmark = pytest.mark.django_db


def test_strings_come_back_as_they_went_in():
    values = ['e:o"neil@x.example', "n:back\\slash", "a,b", "{braces}", "NULL", "", " spaced ", "é"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT %s::varchar[]", [array_literal(values)])
        assert cursor.fetchone()[0] == values
        cursor.execute("SELECT %s::bigint[], %s::varchar[]", [array_literal([3, 1, 2]), "{}"])
        assert cursor.fetchone() == ([3, 1, 2], [])
    assert array_literal([]) == "{}"
