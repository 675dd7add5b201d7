"""The Connect UI's German catalogue against the texts in the code: complete, current, placeholders intact.

The texts are extracted as `pybabel extract -F src/solarfleet/onboarding/babel.cfg` does: templates with
Jinja2's extractor, Python with `N_` / `_` (texts shown through `_(variable)` in templates are marked `N_`).
"""

from __future__ import annotations

import re
from collections import Counter
from functools import cache

from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from solarfleet.onboarding.i18n import TRANSLATIONS_DIR, translations
from solarfleet.onboarding.ui import _environment

PACKAGE = TRANSLATIONS_DIR.parent
MAPPING = PACKAGE / "babel.cfg"
GERMAN_PO = TRANSLATIONS_DIR / "de.po"
HOW_TO_UPDATE = f"re-extract and update {GERMAN_PO.name} as the comment at its top says"
# A %-conversion as Python's %-formatting reads it: a named placeholder, "%%", or a stray "%". Jinja's
# newstyle gettext %-formats every text it shows, so a stray "%" in a translation breaks the page.
PERCENT = re.compile(r"%(?:\([^)]*\))?.?")


@cache
def extracted_texts() -> dict[str, list[str]]:
    """Every msgid of the package's templates and Python files, with where it occurs (file:line)."""
    with MAPPING.open(encoding="utf-8") as mapping:
        method_map, options_map = parse_mapping_cfg(mapping, str(MAPPING))
    found: dict[str, list[str]] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
        PACKAGE, method_map, options_map, keywords=DEFAULT_KEYWORDS
    ):
        msgid = message[0] if isinstance(message, tuple) else message  # a plural's msgid is its singular
        found.setdefault(msgid, []).append(f"{filename}:{lineno}")
    return found


@cache
def german_catalogue() -> Catalog:
    with GERMAN_PO.open("rb") as source:
        return read_po(source, locale="de")


def _where(msgids: list[str]) -> str:
    texts = extracted_texts()
    return "\n".join(f"  {msgid!r} ({', '.join(texts.get(msgid, ['not in the code']))})" for msgid in msgids)


def test_extraction_finds_the_texts_of_templates_and_python():
    texts = extracted_texts()
    assert "Cancel" in texts  # templates/_cancel.html
    assert "This link works until the end of %(day)s." in texts  # newstyle gettext with a variable
    assert "API key" in texts  # N_ in connection_forms.py, shown as _(field.label)
    assert "This field is required." in texts  # N_ in flow.py, shown as _(errors[...])
    assert "your battery's state of charge" in texts  # N_ in ui.py, shown as _(item)


def test_every_text_has_a_german_translation():
    catalogue = german_catalogue()
    missing = [msgid for msgid in extracted_texts() if not (msgid in catalogue and catalogue[msgid].string)]
    assert not missing, f"untranslated in {GERMAN_PO.name} ({HOW_TO_UPDATE}):\n{_where(missing)}"
    # Babel leaves fuzzy entries out of the compiled catalogue: the page would show English.
    fuzzy = [msgid for msgid in extracted_texts() if catalogue[msgid].fuzzy]
    assert not fuzzy, f"marked fuzzy in {GERMAN_PO.name}; review them and remove the flag:\n{_where(fuzzy)}"


def test_the_catalogue_has_no_texts_the_code_no_longer_has():
    # Failing rather than just reporting: an entry the code no longer has is nearly always an English text
    # that was reworded, so its German text needs the same change, in the same change set. A report in a
    # passing run goes unread, and dead entries would pile up. The fix is one `pybabel update`, which also
    # offers the old translation for the new text as a fuzzy entry (that the test above then asks to review).
    catalogue = german_catalogue()
    texts = extracted_texts()
    obsolete = [message.id for message in catalogue if message.id and message.id not in texts]
    obsolete += [message.id for message in catalogue.obsolete.values()]  # "#~" entries
    assert not obsolete, f"in {GERMAN_PO.name} but no longer in the code ({HOW_TO_UPDATE}):\n{_where(obsolete)}"


def test_translations_keep_the_placeholders():
    wrong = [
        f"  {message.id!r} -> {message.string!r}"
        for message in german_catalogue()
        if message.id and Counter(PERCENT.findall(message.id)) != Counter(PERCENT.findall(message.string))
    ]
    assert not wrong, "the %(...)s placeholders differ (or a stray % sign):\n" + "\n".join(wrong)
    for message in german_catalogue():
        if message.id and message.string:
            # Formatted as Jinja's newstyle gettext does it: must not raise.
            message.string % dict.fromkeys(re.findall(r"%\((\w+)\)s", message.id), "x")


def test_german_is_served_at_runtime_and_other_languages_fall_back_to_english():
    german = translations("de")
    assert german.gettext("Cancel") == "Abbrechen"
    until = german.gettext("This link works until the end of %(day)s.")
    assert until == "Dieser Link ist bis einschließlich %(day)s gültig."
    catalogue = german_catalogue()
    assert {msgid: german.gettext(msgid) for msgid in extracted_texts()} == {
        msgid: catalogue[msgid].string for msgid in extracted_texts()
    }
    swedish = translations("sv")
    assert swedish.gettext("Cancel") == "Cancel"
    assert swedish.gettext("This link works until the end of %(day)s.") == "This link works until the end of %(day)s."


def test_a_page_renders_in_german():
    html = _environment("de").get_template("closed.html").render(reason="expired", static="/s")
    assert "<h1>Dieser Link ist abgelaufen</h1>" in html
    assert "Dieser Link kann nicht verwendet werden · solarfleet" in html
