"""Where the local store files live on the device: one file per signed-in user.

Flet sets FLET_APP_STORAGE_DATA on a phone; plain python and pytest fall back to a user folder.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path


def default_data_dir() -> Path:
    flet_dir = os.environ.get("FLET_APP_STORAGE_DATA")
    if flet_dir:
        return Path(flet_dir)
    xdg = os.environ.get("XDG_DATA_HOME")
    return (Path(xdg) if xdg else Path.home() / ".local" / "share") / "relais"


def store_path(user_id: uuid.UUID | str, data_dir: Path | None = None) -> Path:
    """The file of one user on this device: a second user never sees the first one's data."""
    return (data_dir or default_data_dir()) / f"relais-{uuid.UUID(str(user_id))}.sqlite3"
