"""``python -m crm.localdb start|stop|status|url``: the embedded PostgreSQL of this checkout's
``var/`` (``VAR_DIR``). ``bin/dev`` starts it before web, worker and beat and stops it after."""

import argparse
import os
import sys

from crm.localdb import EmbeddedDatabaseError, server_for


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m crm.localdb", description=__doc__)
    parser.add_argument("action", choices=["start", "stop", "status", "url"])
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings.base")
    from django.conf import settings

    db = settings.DATABASES["default"]
    if db["ENGINE"] != "crm.localdb":
        print("DATABASE_URL is set: the embedded PostgreSQL is not used.", file=sys.stderr)
        return 0 if args.action in ("start", "stop") else 1
    server = server_for(db)
    try:
        if args.action == "start":
            started = server.ensure_running()
            state = "started" if started else "already running"
            print(f"Embedded PostgreSQL {state}: {server.data_dir} (socket in {server.socket_dir})")
        elif args.action == "stop":
            stopped = server.stop()
            print(
                "Embedded PostgreSQL stopped."
                if stopped
                else "Embedded PostgreSQL was not running."
            )
        elif args.action == "status":
            running = server.is_running()
            print(f"Embedded PostgreSQL {'running' if running else 'stopped'}: {server.data_dir}")
            return 0 if running else 3
        else:
            print(server.url())
    except EmbeddedDatabaseError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
