#!/usr/bin/env python
"""Django's command-line utility for LeadBridge."""

import os
import sys


def main() -> None:
    if sys.version_info < (3, 12):  # noqa: UP036 - says what to do instead of a SyntaxError later
        sys.exit(
            "LeadBridge needs Python >= 3.12: run `make run` (it builds .venv with pyenv 3.12)."
        )
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadbridge.settings")
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        execute_from_command_line(sys.argv)
    except ImproperlyConfigured as exc:
        # Configuration mistakes get one line, not a traceback (see leadbridge/env.py).
        sys.exit(f"LeadBridge configuration error: {exc}")


if __name__ == "__main__":
    main()
