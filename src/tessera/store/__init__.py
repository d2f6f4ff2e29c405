"""Durable storage: the interface (``base``) and the SQL engines (``sql``)."""
