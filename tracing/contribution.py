"""What the client library adds to ``cachewatch generate``: the trace pipeline's tail-sampling configs
(``tracing/otelcol-tail-sampling.yaml``, ``tracing/jaeger-v2.yaml``) and the applications' scrape job.

Pure: the pipeline's writer puts the generated header, the comment and the YAML on disk."""

from __future__ import annotations

from cachewatch.artifacts import Contribution, File
from cachewatch.spec import FleetSpec
from cachewatch.tracing.collector_config import CONFIGS, comment
from cachewatch.tracing.scrape_job import apps_jobs, scrape_comment

PART = "tracing"
DIRECTORY = "tracing"


def contribution(spec: FleetSpec) -> Contribution:
    files = tuple(File(f"{DIRECTORY}/{name}", data=make(spec), comment=comment(spec, name))
                  for name, make in CONFIGS.items())
    return Contribution(part=PART, files=files, scrape_jobs=tuple(apps_jobs(spec)),
                        scrape_comment=scrape_comment(spec))
