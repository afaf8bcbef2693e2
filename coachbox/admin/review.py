"""The course page's "Does review work?" section: FSRS's predicted recall at review time against actual recall."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from markupsafe import Markup

from coachbox.admin import charts
from coachbox.store import reviews

FEW_REVIEWS = 100  # below this many reviews with a prediction, the page says to read the chart with care


@dataclass(frozen=True)
class CourseReview:
    bins: list[reviews.CalibrationBin]
    reviews: int
    predicted: float | None  # over every review: the mean prediction, and the share answered right
    actual: float | None
    chart: Markup | None


def load(conn: sqlite3.Connection, course_id: int) -> CourseReview:
    bins = reviews.calibration(conn, course_id)
    total = sum(b.reviews for b in bins)
    if not total:
        return CourseReview(bins, 0, None, None, None)
    predicted = sum(b.predicted * b.reviews for b in bins) / total
    actual = sum(b.actual * b.reviews for b in bins) / total
    chart = charts.calibration(
        "Review questions: predicted recall against the share answered right, one dot per 10 % band of prediction",
        [(b.predicted, b.actual, b.reviews) for b in bins],
    )
    return CourseReview(bins, total, predicted, actual, chart)
