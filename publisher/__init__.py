"""disclosure-publisher: approved disclosure notices to feeds, group robots and screens."""

__version__ = "0.1.0"
