"""Reading the API's RFC 9457 problem answers in tests (leadbridge.api.errors)."""

PROBLEM_KEYS = {"type", "title", "status", "detail", "instance", "code", "errors"}


def error_fields(answer) -> set:
    """The fields (body paths, query parameters, headers) a problem names."""
    return {item["field"] for item in answer.json()["errors"]}


def error_messages(answer) -> dict[str, str]:
    """field → its messages joined, for reading what a problem says about a field."""
    messages: dict = {}
    for item in answer.json()["errors"]:
        messages.setdefault(item["field"], []).append(item["message"])
    return {field: " ".join(texts) for field, texts in messages.items()}


def assert_problem(answer, status: int, code: str | None = None) -> dict:
    assert answer.status_code == status, (answer.status_code, answer.content[:500])
    assert answer["Content-Type"] == "application/problem+json", answer["Content-Type"]
    body = answer.json()
    assert set(body) == PROBLEM_KEYS, body
    assert body["status"] == status and body["type"] == f"/api/v1/problems/{body['code']}"
    if code is not None:
        assert body["code"] == code, body
    return body
