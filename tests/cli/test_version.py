"""`coachbox --version` names the installed version (docs/security.md asks reporters for it)."""

import pytest

from coachbox.cli.main import main


def test_it_prints_the_installed_version(capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["--version"])
    assert stopped.value.code == 0
    assert capsys.readouterr().out.startswith("coachbox 0.")
