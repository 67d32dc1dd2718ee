"""The one exception type for problems the user can fix (bad input, missing files, wrong setup)."""


class Cnn2GnnError(Exception):
    """A user-facing failure. The CLI prints its message without a traceback and exits non-zero.

    Messages name the offending file or value and say how to fix it. Real bugs raise anything else
    and keep their traceback.
    """

    exit_code = 1
