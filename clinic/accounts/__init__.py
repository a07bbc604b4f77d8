"""Organisations (sites, police forces, labs), users, sessions and API tokens."""
