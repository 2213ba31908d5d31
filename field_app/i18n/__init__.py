"""Message catalogs and the Translator every screen reads its words from.

French is the default and the fallback; a missing key shows itself as the key, never crashes.
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any

from shared_models.vocabulary import Language

# The languages this app has a catalog for, with the country of their Flutter locale (for
# the platform's own widgets: date pickers, text direction, html lang). Dutch is Belgium's.
# A language of the vocabulary without a catalog here would fall back to the default.
_COUNTRIES: dict[Language, str] = {
    Language.FR: "FR",
    Language.EN: "GB",
    Language.IT: "IT",
    Language.NL: "BE",
}
LANGUAGES: tuple[Language, ...] = tuple(_COUNTRIES)
DEFAULT_LANGUAGE = Language.FR
LOCALES: dict[str, tuple[str, str]] = {
    language: (language.value, country) for language, country in _COUNTRIES.items()
}

# Thousands and decimal separators (French groups with a narrow no-break space).
_SEPARATORS: dict[str, tuple[str, str]] = {
    Language.FR: ("\u202f", ","),
    Language.EN: (",", "."),
    Language.IT: (".", ","),
    Language.NL: (".", ","),
}

# French elides "de" and "que" before a vowel or a mute h: "l'équipe d'Aurélie P.", never
# "de Aurélie". Only before a name put into the text, where the catalog cannot know.
_ELIDED = re.compile(r"\b([dD]e|[qQ]ue) \{(\w+)\}")
_VOWELS = "aeiouyàâäéèêëîïôöùûüœæh"
# A name ending with a full stop ("Aurélie P.") before the sentence's own: one, not two.
_DOUBLE_STOP = re.compile(r"(?<!\.)\.\.(?!\.)")


def _elide(match: re.Match[str], values: dict[str, Any]) -> str:
    word, name = match.group(1), match.group(2)
    value = str(values.get(name, ""))
    if value[:1].lower() in _VOWELS and value[:1]:
        return f"{word[:-1]}'{{{name}}}"
    return match.group(0)


_HERE = Path(__file__).resolve().parent


@cache
def catalog(language: str) -> dict[str, str]:
    """The catalog of one language, read once per process (catalogs are immutable)."""
    with (_HERE / f"{language}.json").open(encoding="utf-8") as file:
        return dict(json.load(file))


def supported(language: str | None) -> str:
    return language if language in LANGUAGES else DEFAULT_LANGUAGE


class Translator:
    """`t("key", name=...)`: the text of `key` in the session's language, formatted."""

    def __init__(self, language: str = DEFAULT_LANGUAGE) -> None:
        self.language = supported(language)

    def __call__(self, key: str, **values: Any) -> str:
        """A count `n` (an int) picks the key's plural form when it has them (`key.one`,
        `key.other`) and is written the language's way."""
        count = values.get("n")
        if isinstance(count, int) and not isinstance(count, bool):
            if self._text(f"{key}.other") is not None:
                key = f"{key}.{self._plural(count)}"
            values["n"] = self.number(count)
        text = self._text(key) or key
        if not values:
            return text
        if self.language == Language.FR:
            text = _ELIDED.sub(lambda m: _elide(m, values), text)
        return _DOUBLE_STOP.sub(".", text.format(**values))

    def known(self, key: str) -> bool:
        """Whether the catalogs have `key`: a server's code may be newer than the app."""
        return self._text(key) is not None

    def _text(self, key: str) -> str | None:
        return catalog(self.language).get(key) or catalog(DEFAULT_LANGUAGE).get(key)

    def _plural(self, n: int) -> str:
        """CLDR's two cases for these languages: French says "0 note" and "1 note"."""
        if self.language == Language.FR:
            return "one" if n in (0, 1) else "other"
        return "one" if n == 1 else "other"

    # Vocabulary ---------------------------------------------------------------------

    def kind(self, kind: str) -> str:
        return self(f"kind.{kind}")

    def category(self, category: str) -> str:
        return self(f"category.{category}")

    def severity(self, severity: str) -> str:
        return self(f"severity.{severity}")

    def status(self, status: str) -> str:
        return self(f"status.{status}")

    def action(self, action: str) -> str:
        return self(f"action.{action}")

    def reason(self, reason: str) -> str:
        return self(f"reason.{reason}")

    def role(self, role: str) -> str:
        return self(f"role.{role}")

    # Numbers, in the language's way: "2 000" and "2,1" in French, "2,000" and "2.1" in
    # English (a table here: no locale database to ship to the browser).

    def number(self, value: float, decimals: int = 0) -> str:
        text = f"{value:,.{decimals}f}"
        if decimals:
            text = text.rstrip("0").rstrip(".")
        group, point = _SEPARATORS.get(self.language, _SEPARATORS[DEFAULT_LANGUAGE])
        return text.replace(",", "\0").replace(".", point).replace("\0", group)

    # Dates, in the device's local time --------------------------------------------------

    def when(self, moment: datetime | None) -> str:
        if moment is None:
            return ""
        local = moment.astimezone()
        today = datetime.now().astimezone().date()
        if local.date() == today:
            return self("format.today_at", time=local.strftime("%H:%M"))
        return self("format.datetime", day=local.strftime("%d/%m"), time=local.strftime("%H:%M"))

    def day(self, value: date | None) -> str:
        return "" if value is None else self("format.date", day=value.strftime("%d/%m/%Y"))

    def duration(self, seconds: float | None) -> str:
        if seconds is None:
            return self("format.none")
        minutes = round(seconds / 60)
        if minutes < 60:
            return self("format.minutes", n=minutes)
        hours = seconds / 3600
        if hours < 48:
            return self("format.hours", n=self.number(hours, 1))
        return self("format.days", n=self.number(hours / 24, 1))
