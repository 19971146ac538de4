"""Sessions in the database (Django's ``db`` engine), read through a prepared statement."""

from django.contrib.sessions.backends import db

from crm.prepared import prepared


class SessionStore(db.SessionStore):
    """Django's database session, whose read on every request (by its key) is prepared once
    per connection (``crm.prepared``)."""

    def _get_session_from_db(self):
        with prepared():
            return super()._get_session_from_db()
