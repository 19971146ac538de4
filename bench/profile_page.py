"""Where one page's time goes: ``python bench/profile_page.py PATH [--user rep] [--runs 20]``.

Serves PATH through Django's WSGI handler (the full middleware, DEBUG off; not the test client,
which adds about 2 ms of its own to a page) as a demo user signed in by a session cookie, on the
database in ``DATABASE_URL``. It warms the page up, times ``--timed`` requests without a profiler
(the median is the page's own time in the process), then profiles ``--runs`` requests with
cProfile and prints the SQL statements of one request with each one's time, and the functions
with the most time. Used to find what makes a page slower than its bare reference in
``bench/run.py``.
"""

import argparse
import cProfile
import io
import os
import pstats
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path")
    parser.add_argument("--user", default="rep")
    parser.add_argument("--runs", type=int, default=20, help="Requests profiled.")
    parser.add_argument("--timed", type=int, default=50, help="Requests timed unprofiled.")
    parser.add_argument("--top", type=int, default=40, help="Functions to list.")
    parser.add_argument("--sort", default="cumulative", help="pstats sort key (e.g. tottime).")
    parser.add_argument("--full-sql", action="store_true", help="Print each statement whole.")
    args = parser.parse_args(argv)

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings.base")
    os.environ.setdefault("DEBUG", "False")
    os.environ.setdefault("ALLOWED_HOSTS", "localhost")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.handlers.wsgi import WSGIHandler
    from django.db import connection
    from django.test import Client

    from crm.models import User

    signed_in = Client()
    signed_in.force_login(User.objects.get(username=args.user))
    cookie = "; ".join(f"{name}={morsel.value}" for name, morsel in signed_in.cookies.items())
    handler = WSGIHandler()
    path, _, query = args.path.partition("?")

    def get() -> str:
        environ = {
            "REQUEST_METHOD": "GET",
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "SERVER_NAME": "localhost",
            "SERVER_PORT": "80",
            "HTTP_HOST": "localhost",
            "HTTP_COOKIE": cookie,
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(),
            "wsgi.errors": sys.stderr,
        }
        status = []
        body = handler(environ, lambda line, headers, *rest: status.append(line))
        b"".join(body)
        body.close()
        return status[0]

    for _ in range(3):
        status = get()
        if not status.startswith("200"):
            print(f"{args.path} answered {status}")
            return 1

    timings = []
    for _ in range(args.timed):
        started = time.perf_counter()
        get()
        timings.append((time.perf_counter() - started) * 1000)

    statements = []

    def timed_sql(execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            statements.append(((time.perf_counter() - started) * 1000, sql))

    with connection.execute_wrapper(timed_sql):
        get()

    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    for _ in range(args.runs):
        get()
    profiler.disable()
    profiled = (time.perf_counter() - started) / args.runs * 1000

    print(
        f"{args.path} as {args.user}: median {statistics.median(timings):.2f} ms, "
        f"fastest {min(timings):.2f} ms ({args.timed} requests); "
        f"{profiled:.1f} ms under cProfile ({args.runs} requests)"
    )
    print(
        f"{len(statements)} queries, {sum(ms for ms, _ in statements):.2f} ms in SQL "
        "(one request, round trips included):"
    )
    for ms, sql in statements:
        print(f"  {ms:7.2f} ms  {sql if args.full_sql else sql[:150]}")
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats(args.sort).print_stats(args.top)
    print(out.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())
