"""disclosure-publisher: approved disclosure notices out to feeds, group robots and campus screens."""

__version__ = "0.1.0"
