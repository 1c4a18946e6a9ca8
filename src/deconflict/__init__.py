"""Deconflict: a conflict prevention channel between parties that do not trust each other.

The public surface is deliberately small: :class:`Settings`, :func:`create_app` for the
web service, and :class:`Deconflict`, the one object that the API, the CLI and the tests
all drive.
"""

from deconflict.service.deconflict import Deconflict
from deconflict.settings import Settings

__all__ = ["Deconflict", "Settings", "__version__"]
__version__ = "0.1.0"
