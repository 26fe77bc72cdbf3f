"""The one exception type the toolkit raises for bad input.

Every check at an entry point raises :class:`GraphclsError` with a message that
names the argument or file and what was expected. The CLI turns it into a
one-line error and exit code 2.
"""


__all__ = ["GraphclsError", "UnsafeFileError", "one_line"]


class GraphclsError(ValueError):
    """Bad input to pyg_graphcls: the message names the argument or file."""


class UnsafeFileError(GraphclsError):
    """A file refused because loading it could run code (a pickle of foreign objects).

    Damaged files (empty, truncated, not a torch file) raise a plain
    :class:`GraphclsError`: caches and partial chunks treat those as missing
    and convert again, while an unsafe file is never silently replaced.
    """


def one_line(e: BaseException) -> str:
    """``e`` as one line naming the path or argument and the cause (what the CLI prints)."""
    if isinstance(e, GraphclsError):
        text = str(e)
    elif isinstance(e, OSError) and e.filename is not None:
        text = f"{e.filename}: {e.strerror or type(e).__name__}"
    else:
        text = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return " ".join(lines)[:2000] or type(e).__name__
