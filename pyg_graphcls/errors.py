"""The one exception type the toolkit raises for bad input.

Every check at an entry point raises :class:`GraphclsError` with a message that
names the argument or file and what was expected. The CLI turns it into a
one-line error and exit code 2.
"""


class GraphclsError(ValueError):
    """Bad input to pyg_graphcls: the message names the argument or file."""


class UnsafeFileError(GraphclsError):
    """A file refused because loading it could run code (a pickle of foreign objects).

    Damaged files (empty, truncated, not a torch file) raise a plain
    :class:`GraphclsError`: caches and partial chunks treat those as missing
    and convert again, while an unsafe file is never silently replaced.
    """
