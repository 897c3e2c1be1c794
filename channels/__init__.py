"""The channel implementations: feeds (``rss``), screens (``signage``), robots and webhooks
(``webhook``). Each fulfils the contract in :mod:`publisher.channel` and is named in its
registry; the core never imports this package directly.
"""
