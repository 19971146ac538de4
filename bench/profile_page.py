"""Where one page's time goes: ``python bench/profile_page.py PATH [--user rep] [--runs 20]``.

Opens PATH through Django's test client (the full middleware, DEBUG off) as a demo user on the
database in ``DATABASE_URL``, warms it up, then profiles ``--runs`` requests with cProfile and
prints the mean wall time, the time spent in SQL (with each statement's share), and the
functions with the most cumulative time. Used to find what makes a page slower than its bare
reference in ``bench/run.py``.
"""

import argparse
import cProfile
import io
import os
import pstats
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path")
    parser.add_argument("--user", default="rep")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--top", type=int, default=40, help="Functions to list.")
    parser.add_argument("--sort", default="cumulative", help="pstats sort key (e.g. tottime).")
    args = parser.parse_args(argv)

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings.base")
    os.environ.setdefault("DEBUG", "False")
    os.environ.setdefault("ALLOWED_HOSTS", "testserver")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from crm.models import User

    client = Client(raise_request_exception=True)
    client.force_login(User.objects.get(username=args.user))
    for _ in range(3):
        response = client.get(args.path)
        if response.status_code != 200:
            print(f"{args.path} answered {response.status_code}")
            return 1

    sql = defaultdict(float)
    with CaptureQueriesContext(connection) as captured:
        client.get(args.path)
    # Counted now: the next request empties the connection's query log (request_started).
    queries = captured.captured_queries
    for query in queries:
        sql[query["sql"][:160]] += float(query["time"])

    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    for _ in range(args.runs):
        client.get(args.path)
    profiler.disable()
    elapsed = (time.perf_counter() - started) / args.runs * 1000

    print(f"{args.path} as {args.user}: {elapsed:.1f} ms a request (profiled, {args.runs} runs)")
    print(f"{len(queries)} queries, {sum(sql.values()) * 1000:.1f} ms in SQL (one request):")
    for statement, seconds in sorted(sql.items(), key=lambda item: -item[1]):
        print(f"  {seconds * 1000:7.2f} ms  {statement}")
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats(args.sort).print_stats(args.top)
    print(out.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())
