"""Locate the files that ship beside the code: ``schemas/`` and ``filters/``.

They live at the top of the checkout (users edit recipes there) and are copied into the wheel as
``curate/_resources/<name>`` (pyproject's ``force-include``), so both an installed wheel and an
editable checkout find them. One function, used everywhere, so there is one answer to "where".
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def resource_dir(name: str) -> Path:
    """Return the directory of resource ``name`` (``"schemas"`` or ``"filters"``)."""
    for candidate in (_PACKAGE_DIR / "_resources" / name, _PACKAGE_DIR.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(
        f"curate resource folder {name!r} not found (looked in {_PACKAGE_DIR / '_resources'} and "
        f"{_PACKAGE_DIR.parent}); the installation is incomplete"
    )
