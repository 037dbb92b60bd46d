"""docs/API.md, run: every `sh` block against a live server, statuses as documented.

The blocks run in order in one bash script (they share variables, as in a terminal);
a `curl` function wraps the real one to log each status. LB, LB_USER and LB_PASSWORD
come from here instead of the document's `export` line, the webhook URL points at a
local receiver, and the `python` block (the receiver's check) verifies the deliveries.
"""

import os
import re
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from integrations.models import WebhookSubscription
from integrations.services import webhook_deliveries_send
from leadbridge.api import pagination

from .test_webhooks import Receiver

DOC = Path(__file__).resolve().parents[2] / "docs" / "API.md"
BLOCK = re.compile(r"```(sh|python)\n(.*?)```\n(?:Answers: ([^\n]*)\n)?", re.S)
DOC_HOOK_URL = "https://erp.example.com/leadbridge"


def _blocks():
    return [(m.group(1), m.group(2), m.group(3)) for m in BLOCK.finditer(DOC.read_text())]


def _expected(answers: str | None):
    if answers is None:
        return []
    every = re.fullmatch(r"(\d{3}) on every page", answers)
    if every:
        return ("every", int(every.group(1)))
    return [int(code) for code in answers.split(",")]


def test_every_curl_example_documents_its_answers():
    blocks = [b for b in _blocks() if b[0] == "sh"]
    assert len(blocks) >= 8
    for _kind, code, answers in blocks:
        if "curl" in code:
            assert answers, f"no Answers: line under\n{code}"


@pytest.mark.django_db(transaction=True)
def test_the_walkthrough_runs_against_a_live_server(
    live_server, admin_user, campaign, rep, tmp_path, settings, monkeypatch
):
    settings.LEADBRIDGE_WEBHOOK_PRIVATE_TARGETS = True  # the receiver is on 127.0.0.1
    # The walk-through reads its own writes at once; the settle time has its own tests.
    monkeypatch.setattr(pagination, "SYNC_SETTLE", timedelta(0))
    admin_user.set_password("walk-through")
    admin_user.save()
    receiver = Receiver()
    try:
        status_log = tmp_path / "status.log"
        script = [
            "set -euo pipefail",
            'curl() { command curl -w \'%{stderr}%{http_code}\\n\' "$@" 2>>"$STATUS_LOG"; }',
        ]
        expected = []
        for index, (kind, code, answers) in enumerate(_blocks()):
            if kind != "sh":
                continue
            code = "\n".join(line for line in code.splitlines() if not line.startswith("export LB"))
            script += [
                f'echo "block {index}" >> "$STATUS_LOG"',
                code.replace(DOC_HOOK_URL, receiver.url),
            ]
            expected.append((index, _expected(answers)))
        env = {
            **os.environ,
            "LB": live_server.url,
            "LB_USER": admin_user.username,
            "LB_PASSWORD": "walk-through",
            "STATUS_LOG": str(status_log),
        }
        run = subprocess.run(
            ["bash", "-c", "\n".join(script)], env=env, capture_output=True, text=True, timeout=120
        )
        log = status_log.read_text() if status_log.exists() else ""
        assert run.returncode == 0, (run.stdout, run.stderr, log)
        got: dict[int, list[int]] = {}
        current = None
        for line in log.splitlines():
            if line.startswith("block "):
                current = int(line.split()[1])
                got[current] = []
            elif re.fullmatch(r"\d{3}", line):
                got[current].append(int(line))
        for index, want in expected:
            if isinstance(want, tuple):
                assert got[index] and set(got[index]) == {want[1]}, (index, got[index], run.stdout)
            else:
                assert got[index] == want, (index, got[index], run.stdout, run.stderr)
        assert "+49 89 7654321" in run.stdout  # the PATCH made with If-Match

        # The receiver's side: the ping (queued before the rotation) verifies with both
        # secrets while they overlap, as the document's python block checks it.
        namespace: dict = {}
        exec(next(code for kind, code, _a in _blocks() if kind == "python"), namespace)
        verify = namespace["verify"]
        subscription = WebhookSubscription.objects.get(name="ERP")
        assert webhook_deliveries_send(now=timezone.now()).delivered == 1
        headers, body = receiver.calls[0]
        assert headers["LeadBridge-Event"] == "ping"
        signature = headers["LeadBridge-Signature"]
        assert verify(subscription.secret, signature, body)
        assert verify(subscription.previous_secret, signature, body)
        assert not verify("whsec_wrong", signature, body)
    finally:
        receiver.close()
