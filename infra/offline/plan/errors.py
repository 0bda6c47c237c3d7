"""The one error a service's plan can end in."""

from __future__ import annotations


class NoPlanError(Exception):
    """This service cannot be planned (no data, too little data); the message says why, for a user."""
