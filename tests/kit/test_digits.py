"""Numbers in text (paths, forms, headers) are ASCII digits only: `str.isdigit` also
accepts superscripts, which `int()` refuses (a 500), and other scripts' digits."""

from __future__ import annotations

import pytest

from activecommerce.kit.fields import ascii_digits
from activecommerce.web.resources import page_number
from activecommerce.webhooks.delivery import _retry_after


@pytest.mark.parametrize("text", ["²", "¹²", "1²", "١٢", "\uff11", "½", "", "-1", "1.0"])
def test_other_digits_are_not_numbers(text: str) -> None:
    assert not ascii_digits(text)
    assert page_number(text) == 1  # a console list's ?page_number=
    assert _retry_after(503, text) is None  # a webhook receiver's Retry-After


def test_ascii_digits_are() -> None:
    assert ascii_digits("0123456789")
    assert page_number("3") == 3
    assert _retry_after(429, "7") == 7.0
