"""What the OpenCV in use was built with, read from ``cv2.getBuildInformation()``.

A pip wheel and JetPack's system OpenCV differ exactly here (GStreamer, a GUI), and which one Python
picks up is a common surprise, so sources and the preview window check before relying on either.
"""

from __future__ import annotations

from typing import Any


def build_value(cv2: Any, name: str) -> str | None:
    """The value of the ``name:`` line (e.g. ``GStreamer`` -> ``YES (1.20.3)``, ``GUI`` -> ``NONE``)."""
    for line in cv2.getBuildInformation().splitlines():
        key, sep, value = line.strip().partition(":")
        if sep and key.strip() == name:
            return value.strip()
    return None


def opencv_has_gstreamer(cv2: Any) -> bool:
    return (build_value(cv2, "GStreamer") or "").upper().startswith("YES")


def opencv_has_gui(cv2: Any) -> bool:
    return (build_value(cv2, "GUI") or "NONE").upper() != "NONE"
