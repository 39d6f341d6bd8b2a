"""The store: migrations build exactly the schema the code uses, on both engines; errors hide passwords."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from cachewatch.alert_lifecycle.intake import Intake
from cachewatch.alert_lifecycle.model import Observation, Source
from cachewatch.alert_lifecycle.store import repository as repo
from cachewatch.alert_lifecycle.store.engine import Store, StoreError, open_store, schema_revision
from cachewatch.alert_lifecycle.store.schema import metadata

T0 = 1_800_000_000.0


def test_the_migrations_build_exactly_the_schema_in_code(store: Store) -> None:
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []
    assert schema_revision(store.engine) == "0001"


def test_opening_again_migrates_nothing_and_keeps_the_data(store: Store) -> None:
    Intake(store).ingest([Observation("ab", {"alertname": "A"}, {}, T0, "firing", T0, Source.WEBHOOK)])
    again = open_store(store.engine.url.render_as_string(hide_password=False))
    try:
        with again.read() as conn:
            assert repo.count_episodes(conn, repo.EpisodeFilter()) == 1
    finally:
        again.close()


def test_retention_deletes_only_old_finished_episodes(store: Store) -> None:
    intake = Intake(store)
    for fp, starts, ends in (("old", T0, T0 + 60), ("recent", T0 + 86400 * 40, T0 + 86400 * 40 + 60),
                             ("firing", T0, None)):
        intake.ingest([Observation(fp, {"alertname": fp}, {}, starts, "firing", starts, Source.WEBHOOK)])
        if ends:
            intake.ingest([Observation(fp, {"alertname": fp}, {}, starts, "resolved", ends, Source.WEBHOOK,
                                       ends_at=ends)])
    with store.write() as conn:
        assert repo.purge(conn, T0 + 86400 * 30) == 1
    with store.read() as conn:
        assert sorted(e["fingerprint"] for e in repo.list_episodes(conn, repo.EpisodeFilter())) == ["firing",
                                                                                                    "recent"]


@pytest.mark.parametrize("url, message", [
    ("mysql://root:hunter2@127.0.0.1/x", "only sqlite and postgresql"),
    ("postgresql://alice:hunter2@127.0.0.1:1/none", "127.0.0.1:1"),
])
def test_an_unusable_database_is_named_without_its_password(url: str, message: str) -> None:
    with pytest.raises(StoreError, match=message) as caught:
        open_store(url)
    assert "hunter2" not in str(caught.value)
