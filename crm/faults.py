"""What a durable job's tests use to stand for a worker killed mid-run."""


class SimulatedKill(BaseException):
    """Raised by a job's ``crash_after_chunks`` hook: like a killed worker, the run records
    nothing more and leaves its lease to run out (a ``BaseException``, so no handler of
    ordinary errors in the job treats it as a failure)."""
