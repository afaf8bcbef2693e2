"""HTTP edges: webhooks and public pages (health, metrics, media, certificate verify)."""
