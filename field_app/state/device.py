"""This device's folder: where its users' store files live, who signed in last, its settings.

On a phone or desktop the device is the machine; in the PWA, the browser's storage.
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from field_app.store import default_data_dir, store_path


@dataclass
class DeviceSettings:
    """What this device remembers between runs; never a token, never note text."""

    last_user_id: str | None = None
    language: str | None = None  # None: follow the user's language from the server
    high_contrast: bool = False
    told_offline_ready: bool = False  # the PWA said once that it now works with no network


class DeviceFolder:
    """One folder per device, holding one store file per user who signed in on it."""

    def __init__(
        self, data_dir: Path | None = None, on_write: Callable[[], None] | None = None
    ) -> None:
        self.path = data_dir or default_data_dir()
        self._settings_file = self.path / "device.json"
        self._on_write = on_write

    def store_file(self, user_id: uuid.UUID | str) -> Path:
        return store_path(user_id, self.path)

    def settings(self) -> DeviceSettings:
        try:
            raw = json.loads(self._settings_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return DeviceSettings()
        known = {k: raw[k] for k in DeviceSettings.__dataclass_fields__ if k in raw}
        return DeviceSettings(**known)

    def save(self, settings: DeviceSettings) -> None:
        """Write atomically (a killed app keeps the old file), readable by this user only."""
        self.path.mkdir(parents=True, exist_ok=True)
        temporary = self._settings_file.with_suffix(".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            json.dump(asdict(settings), file)
        os.replace(temporary, self._settings_file)
        with contextlib.suppress(OSError):
            os.chmod(self._settings_file, 0o600)
        if self._on_write is not None:
            self._on_write()

    def update(self, **changes: object) -> DeviceSettings:
        settings = self.settings()
        for name, value in changes.items():
            setattr(settings, name, value)
        self.save(settings)
        return settings
