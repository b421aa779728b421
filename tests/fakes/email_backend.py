"""An email backend for tests that cross a worker process: it fails a set number of times, then
delivers each message as a JSON file in a folder the test reads (locmem would stay in the worker)."""

import hashlib
import json
import os
import uuid
from pathlib import Path

from django.core.mail.backends.base import BaseEmailBackend

from tests.waiting import wait_until


def _attachment(attachment) -> dict:
    """An attached file as the test reads it back: its name, type and the SHA-256 of its bytes."""
    filename, content, mimetype = attachment
    content = content.encode() if isinstance(content, str) else content
    return {"filename": filename, "mimetype": mimetype, "sha256": hashlib.sha256(content).hexdigest()}


class FlakyFileBackend(BaseEmailBackend):
    """FLAKY_EMAIL_DIR: where delivered messages go; FLAKY_EMAIL_FAILURES: how many sends fail first;
    FLAKY_EMAIL_HOLD=1: the send writes `entered` and waits for a `release` file (to kill the worker
    in the middle of a task); FLAKY_EMAIL_HOLD_AFTER=1: the same, after the message was accepted
    (`accepted`), before the backend returns. While a file `down` is in the folder the provider is
    out: every send fails with a connection error (a test removes it to bring the provider back).
    Every call is counted in `calls` (what reached the provider, delivered or not)."""

    def send_messages(self, email_messages):
        folder = Path(os.environ["FLAKY_EMAIL_DIR"])
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / "calls", "a") as calls:
            calls.write(f"{os.getpid()}\n")
        if os.environ.get("FLAKY_EMAIL_HOLD") == "1":
            (folder / "entered").write_text(str(os.getpid()))
            wait_until((folder / "release").exists, timeout=60, interval=0.05)
        if (folder / "down").exists():
            raise ConnectionError("simulated provider outage (down)")
        failures_file = folder / "failures-so-far"
        failed = int(failures_file.read_text()) if failures_file.exists() else 0
        if failed < int(os.environ.get("FLAKY_EMAIL_FAILURES", "0")):
            failures_file.write_text(str(failed + 1))
            raise ConnectionError(f"simulated provider outage #{failed + 1}")
        for message in email_messages:
            record = {
                "to": message.to,
                "subject": message.subject,
                "body": message.body,
                "headers": message.extra_headers,
                "attachments": [_attachment(a) for a in message.attachments],
            }
            self.deliver(folder, message, record)
        if os.environ.get("FLAKY_EMAIL_HOLD_AFTER") == "1":
            (folder / "accepted").write_text(str(os.getpid()))
            wait_until((folder / "release").exists, timeout=60, interval=0.05)
        return len(email_messages)

    def deliver(self, folder: Path, message, record: dict) -> None:
        (folder / f"sent-{uuid.uuid4().hex}.json").write_text(json.dumps(record))


class IdempotentFileBackend(FlakyFileBackend):
    """Like a provider with idempotency keys (Resend): a message whose `idempotency_key` was seen
    before is accepted again but not delivered twice."""

    supports_idempotency_key = True

    def deliver(self, folder: Path, message, record: dict) -> None:
        key = hashlib.sha256(message.idempotency_key.encode()).hexdigest()[:32]
        target = folder / f"sent-{key}.json"
        if not target.exists():
            target.write_text(json.dumps({**record, "idempotency_key": message.idempotency_key}))


def provider_calls(folder: Path) -> int:
    """How many times the provider was called (each call a batch of messages)."""
    calls = folder / "calls"
    return len(calls.read_text().splitlines()) if calls.exists() else 0


def delivered(folder: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(folder.glob("sent-*.json"))]
