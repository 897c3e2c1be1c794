"""Digital signage exports any campus screen can play, offline, in good Chinese typography."""

from .channel import SignageChannel
from .options import Profile, SignageOptions

__all__ = ["Profile", "SignageChannel", "SignageOptions"]
