"""``cachewatch demo``: the whole stack a user would deploy, on this machine, with a fault, its page and its ack
(:mod:`.run`); or, with ``--redis-addr``, only the exporter in front of an existing Redis (:mod:`.exporter_only`).

One module per concern: the embedded spec (:mod:`.spec`), child processes (:mod:`.processes`), the stack
(:mod:`.stack`), the receiver and the application it starts (:mod:`.receiver`, :mod:`.app`), the fault
(:mod:`.fault`) and what is printed (:mod:`.report`)."""

from __future__ import annotations


def demo(redis_addr: str | None, listen: str, serve: bool) -> int:
    if redis_addr:
        from cachewatch.pipeline.demo.exporter_only import exporter_only

        return exporter_only(redis_addr, listen, serve)
    from cachewatch.pipeline.demo.run import whole_stack

    return whole_stack(serve)
