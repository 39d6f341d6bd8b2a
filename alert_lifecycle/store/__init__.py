"""The lifecycle store: schema, Alembic migrations, engine (SQLite or PostgreSQL), repository."""
