"""cachewatch: observability for fleets of Redis caches, from one spec of the fleet."""

__version__ = "0.1.0"
