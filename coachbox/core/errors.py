"""UserError: a problem the person at the keyboard can fix, printed without a traceback (exit code 1)."""


class UserError(Exception):
    """Say what is wrong, where (file:line or key), and how to fix it."""
