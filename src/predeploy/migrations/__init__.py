"""Alembic migrations, shipped inside the package so `predeploy db upgrade` works anywhere."""
