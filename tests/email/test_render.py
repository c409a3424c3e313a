"""Rendering personalisation templates: HTML escapes what it inserts, text does not."""

from activecommerce.email.templates import render

CONTACT = {"contact": {"firstName": "<script>alert(1)</script>", "lastName": "O'Neil & Co"}}


def test_html_parts_escape_inserted_values() -> None:
    html = render("<p>Hi {{ contact.firstName }} {{ contact.lastName }}</p>", CONTACT, html=True)
    assert html == "<p>Hi &lt;script&gt;alert(1)&lt;/script&gt; O&#39;Neil &amp; Co</p>"


def test_subjects_and_text_parts_stay_as_written() -> None:
    text = render("Hi {{ contact.firstName }} {{ contact.lastName }}", CONTACT, html=False)
    assert text == "Hi <script>alert(1)</script> O'Neil & Co"
