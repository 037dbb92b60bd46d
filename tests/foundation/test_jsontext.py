"""leadbridge.jsontext: payloads serialised once, written as text by COPY, as values by the ORM."""

import json

from leadbridge.jsontext import JsonText, for_copy, for_orm


def test_a_value_is_serialised_once_and_given_back_as_it_was():
    value = {"campaign": "Messe Köln", "to": 7, "filled": ["phone"]}
    text = JsonText(value)
    assert text == json.dumps(value) and for_copy(text) is text
    assert for_orm(text) is value


def test_text_written_by_hand_reads_back_as_its_value():
    text = JsonText.written(
        '{"kind": "callback", "due_at": "2026-12-07T09:00:00+01:00", "policy": "Standard"}'
    )
    assert for_orm(text) == {
        "kind": "callback",
        "due_at": "2026-12-07T09:00:00+01:00",
        "policy": "Standard",
    }
    assert for_copy(text) is text


def test_plain_values_are_serialised_for_copy_and_left_alone_for_the_orm():
    assert for_copy({"a": 1}) == '{"a": 1}' and for_copy(None) is None
    assert for_orm({"a": 1}) == {"a": 1}
