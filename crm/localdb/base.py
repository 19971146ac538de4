"""Django's PostgreSQL backend on the embedded server: the first connection of a process makes
sure the server runs (starting it if need be), and a connection refused because the server was
stopped under a running process starts it again once."""

from django.db.backends.postgresql import base

from crm.localdb import ensure_running_for


class DatabaseWrapper(base.DatabaseWrapper):
    def get_new_connection(self, conn_params):
        ensure_running_for(self.settings_dict)
        try:
            return super().get_new_connection(conn_params)
        except base.Database.OperationalError:
            ensure_running_for(self.settings_dict, recheck=True)
            return super().get_new_connection(conn_params)
