"""The Connect UI's languages: English as written, German from `translations/de.po`, the rest fall back.

Catalogues are read from the `.po` sources with Babel at start-up (no compiled `.mo` files to keep in
step). Texts in Python are marked with `N_` so Babel's extractor finds them; they are translated where
they are shown.
"""

from __future__ import annotations

import gettext
from functools import cache
from io import BytesIO
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

TRANSLATIONS_DIR = Path(__file__).parent / "translations"
TRANSLATED_LANGUAGES = ("de",)
FALLBACK_LANGUAGE = "en"


def N_(message: str) -> str:
    return message


def shown_language(language: str) -> str:
    """The language pages are shown in: the session's where a translation exists, else English."""
    return language if language in TRANSLATED_LANGUAGES else FALLBACK_LANGUAGE


@cache
def translations(language: str) -> gettext.NullTranslations:
    language = shown_language(language)
    if language == FALLBACK_LANGUAGE:
        return gettext.NullTranslations()
    with (TRANSLATIONS_DIR / f"{language}.po").open("rb") as source:
        catalog = read_po(source, locale=language)
    compiled = BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled)
