from pathlib import Path

import numpy as np
import pytest

DATA = Path(__file__).parent / "data"
CALIBRATION_END = np.datetime64("1997-09-30")


def load_cdnow():
    """The CDNOW sample as (customer, date, amount) arrays: columns of CDNOW_sample.txt are the
    master id, the sample id (1..2357), the date YYYYMMDD, the number of CDs and the value."""
    raw = np.loadtxt(DATA / "CDNOW_sample.txt", dtype=str)
    dates = np.array([f"{d[:4]}-{d[4:6]}-{d[6:]}" for d in raw[:, 2]], dtype="datetime64[D]")
    return raw[:, 1].astype(int), dates, raw[:, 4].astype(float)


@pytest.fixture(scope="session")
def cdnow():
    return load_cdnow()


@pytest.fixture(scope="session")
def cdnow_published_summary():
    """The calibration summary as lifetimes distributes it (ID, x, t_x, T, zbar; weeks)."""
    return np.genfromtxt(
        DATA / "cdnow_customers_summary_with_transactions.csv", delimiter=",", names=True
    )


@pytest.fixture
def cdnow_csv(tmp_path, cdnow):
    """The CDNOW sample written as a CSV file with ISO dates, as a user would export it."""
    customers, dates, amounts = cdnow
    path = tmp_path / "cdnow.csv"
    lines = ["customer,date,amount"] + [
        f"{c},{d},{a:.2f}" for c, d, a in zip(customers, dates, amounts, strict=True)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path
