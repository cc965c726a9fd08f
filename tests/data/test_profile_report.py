"""The HTML profile: rendered from a Jinja2 template with autoescaping; time bins as dates."""

from __future__ import annotations

import re

from rigml.data import add, profile
from rigml.data._profile_report import render_html

from .conftest import write


def test_values_from_the_data_are_escaped_and_time_bins_are_dates(lab, tmp_path) -> None:
    rows = [
        f"{i},<script>alert({i % 2})</script>,2024-06-{1 + i % 28:02d}T12:00:00" for i in range(60)
    ]
    write(tmp_path / "t" / "<i>events.csv", "id,note,at\n" + "\n".join(rows) + "\n")
    add(lab, tmp_path / "t", name="events")
    page = render_html(profile(lab, "events"))
    assert "<script>" not in page and "&lt;script&gt;alert(0)&lt;/script&gt;" in page
    assert "<i>" not in page and "from &lt;i&gt;events.csv;" in page
    at = page[page.index("<h3>at ") :]
    at = at[: at.index("</div>")]
    labels = re.findall(r"<title>([^<]*)</title>", at)
    assert labels and all(re.match(r"\d{4}-\d\d-\d\d–\d{4}-\d\d-\d\d: ", t) for t in labels)
    assert "1.717" not in at  # no epoch seconds
