"""The one exception type the toolkit raises for bad input.

Every check at an entry point raises :class:`GraphclsError` with a message that
names the argument or file and what was expected. The CLI turns it into a
one-line error and exit code 2.
"""


class GraphclsError(ValueError):
    """Bad input to pyg_graphcls: the message names the argument or file."""
