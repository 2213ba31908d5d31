"""What the command lines share: output to the terminal that no user text can style or
escape from, and the database they open (migrated first)."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from typing import NoReturn

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text
from sqlalchemy.exc import OperationalError

from sync_server.database import Database
from sync_server.settings import Settings, get_settings
from sync_server.webapp.site import Site

# Nothing printed is read as markup or emoji codes: names, logins and file contents come
# from users. Styles are applied by the helpers below, never written into the text.
out = Console(markup=False, emoji=False, highlight=False)
err = Console(stderr=True, markup=False, emoji=False, highlight=False)


def shown(value: object) -> Text:
    """Anything that may hold text from users, as inert text: control characters (terminal
    escapes, bidirectional overrides, line breaks) are written out, as `\\x1b`."""
    return Text("".join(_visible(char) for char in str(value)))


def _visible(char: str) -> str:
    if unicodedata.category(char) in ("Cc", "Cf", "Cs", "Zl", "Zp"):
        return char.encode("unicode_escape").decode("ascii")
    return char


def say(message: object) -> None:
    out.print(shown(message))


def tell(message: object, label: str = "", style: str = "") -> None:
    """On standard error, after a styled label ("warning: ", "error: ")."""
    err.print(Text.assemble((label, style), shown(message)))


def warn(message: object) -> None:
    tell(message, "warning: ", "yellow")


def fail(message: object, code: int = 1) -> NoReturn:
    tell(message, "error: ", "bold red")
    raise typer.Exit(code)


def print_table(columns: Iterable[str], rows: Iterable[Iterable[object]]) -> None:
    table = Table(*columns)
    for row in rows:
        table.add_row(*(shown(cell) for cell in row))
    out.print(table)


def open_database(settings: Settings | None = None) -> Database:
    """The configured database, with every pending migration applied."""
    from sync_server.files import private_folder
    from sync_server.migrations import upgrade

    settings = settings or get_settings()
    if not settings.database_url or settings.data_dir.exists():
        private_folder(settings.data_dir)  # it holds the database, or may: owner only
    db = Database(settings.resolved_database_url)
    try:
        upgrade(db)
    except OperationalError as exc:
        fail(f"cannot open the database ({exc.orig.__class__.__name__}: {exc.orig})")
    return db


def field_app_site(settings: Settings) -> Site | None:
    """The built PWA (built now if the project changed), or None with a warning: the API
    still serves phones that have the app already."""
    from sync_server.webapp.build import site_for

    return site_for(settings, say=tell, warn=warn)
