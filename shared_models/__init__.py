"""Relais protocol v1: vocabulary and wire schemas shared by the field app and the sync server.

Pure Python and pydantic (2.9 API only, because the phone's wheel index lags PyPI).
"""

from shared_models.wire import PROTOCOL_VERSION

__all__ = ["PROTOCOL_VERSION"]
