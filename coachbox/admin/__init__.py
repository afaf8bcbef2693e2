"""The admin web page at /admin and the JSON API at /api/v1 (see docs/admin.md)."""
