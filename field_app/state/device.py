"""This device's folder: where its users' store files live, who signed in last, its settings.

On a phone or desktop the device is the machine; in web mode each browser is a device.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

from field_app.store import default_data_dir, store_path

_KEY = re.compile(r"^[0-9a-f]{32}$")


@dataclass
class DeviceSettings:
    """What this device remembers between runs; never a token, never note text."""

    last_user_id: str | None = None
    language: str | None = None  # None: follow the user's language from the server
    high_contrast: bool = False


class DeviceFolder:
    """One folder per device; in web mode, one per browser (its key lives in the browser)."""

    def __init__(self, data_dir: Path | None = None, browser_key: str | None = None) -> None:
        base = data_dir or default_data_dir()
        if browser_key is not None:
            if not _KEY.match(browser_key):
                raise ValueError("not a browser key")
            base = base / "browsers" / browser_key
        self.path = base
        self._settings_file = base / "device.json"

    @staticmethod
    def new_browser_key() -> str:
        return uuid.uuid4().hex

    @staticmethod
    def is_browser_key(value: object) -> bool:
        return isinstance(value, str) and bool(_KEY.match(value))

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

    def update(self, **changes: object) -> DeviceSettings:
        settings = self.settings()
        for name, value in changes.items():
            setattr(settings, name, value)
        self.save(settings)
        return settings
