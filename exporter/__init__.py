"""cachewatch.exporter: a Prometheus exporter for Redis, drop-in for oliver006/redis_exporter's names."""
