"""Tests of the appliance: backup/restore, migrations, processes, CLI, accounts."""
