"""The registry's storage: SQLAlchemy 2 tables, repositories and Alembic migrations.

PostgreSQL (psycopg 3) in production and in the tests; a SQLite file under .data/ for the
embedded demo, through the same migrations.
"""
