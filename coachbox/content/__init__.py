"""Course files on disk ⇄ database: parse and validate (file:line errors), import, export."""
