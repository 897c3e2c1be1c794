"""The ``rss`` channel: feeds people subscribe to and never lose.

RSS 2.0, Atom 1.0 and JSON Feed 1.1 for all notices, each 清单 category (ASCII slug URLs such as
``/feeds/zsks.rss.xml``) and each configured department; yearly RFC 5005 archives beyond the
newest ``max_items``; a page per notice; an OPML list and a subscribe page with QR codes; an
optional WebSub ping after each change.
"""

from .channel import RssChannel, RssOptions

__all__ = ["RssChannel", "RssOptions"]
