"""The top floor: ``cachewatch generate`` and ``cachewatch validate`` over every part.

``build.build(spec)`` gathers each part's contribution and assembles the files; ``writer`` renders and writes
them (or diffs them against disk for ``--check``); ``validate`` runs each artifact kind's own tool.
"""
