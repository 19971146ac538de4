"""``bench/run.py``'s tables: the dashboards get one of their own, each marked against the
goal (a median under ``bench/analytics.py``'s ``GOAL_MS``)."""

import importlib.util
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench"


def _run_module():
    spec = importlib.util.spec_from_file_location("bench_run_for_tests", BENCH / "run.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_each_dashboard_is_marked_against_the_goal():
    run = _run_module()
    assert run.DASHBOARD_GOAL_MS == 150
    fast = run.Result("Dashboard: pipeline", "/analytics/pipeline/", "manager", [80.0, 90.0, 100.0])
    slow = run.Result("Dashboard: lead funnel", "/analytics/funnel/", "manager", [140, 160, 200])
    failed = run.Result("Dashboard: support", "/analytics/support/", "manager", status="FAIL 500")
    page = run.Result("Home", "/", "rep", [50.0])
    table = run.dashboard_table([page, fast, slow, failed])
    lines = table.splitlines()
    assert "median under 150 ms" in lines[0] and len(lines) == 5  # header, rule, 3 dashboards
    assert lines[2].startswith("| Dashboard: pipeline | 90.0 | 100.0 | yes |")
    assert lines[3].startswith("| Dashboard: lead funnel | 160.0 | 200.0 | **NO** |")
    assert lines[4].startswith("| Dashboard: support | — | — | — |")
    assert "Home" not in table


def test_no_dashboard_table_without_dashboards():
    run = _run_module()
    assert run.dashboard_table([run.Result("Home", "/", "rep", [50.0])]) == ""
