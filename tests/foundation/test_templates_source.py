"""Template source rules Django itself does not enforce."""

from pathlib import Path

from django.conf import settings


def test_no_template_comment_spans_lines():
    """{# #} is one line only: a comment continued on the next line renders as page text."""
    broken = []
    for template in Path(settings.BASE_DIR, "templates").rglob("*.html"):
        for number, line in enumerate(template.read_text(encoding="utf-8").splitlines(), 1):
            if line.count("{#") != line.count("#}"):
                broken.append(f"{template.relative_to(settings.BASE_DIR)}:{number}")
    assert broken == []
