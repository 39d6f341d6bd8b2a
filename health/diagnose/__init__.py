"""``cachewatch diagnose``: one report per node, section by section (performance, memory, network, replication,
persistence, configuration, security, and with ``--keyspace`` a sampled keyspace analysis). Each finding gives its
check id, what was seen, why it matters and the fix.

collect.py does all the I/O; every section module is a pure function of its evidence and the check table's
results; run.py ties them together; report.py prints them.
"""
