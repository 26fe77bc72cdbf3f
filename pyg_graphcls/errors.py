"""The one exception type the toolkit raises for bad input, and how the CLI reports bad items.

Every check at an entry point raises :class:`GraphclsError` with a message that
names the argument or file and what was expected. The CLI turns it into a
one-line error and exit code 2.
"""
import sys

__all__ = ["GraphclsError", "UnsafeFileError", "one_line", "print_failures", "print_warnings"]


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


def print_failures(fails, file=None) -> None:
    """The images a conversion skipped, ``(index, reason)`` each: the first 20, then a count."""
    for idx, why in fails[:20]:
        print(f"  skipped image {idx}: {why}", file=file)
    if len(fails) > 20:
        print(f"  ... and {len(fails) - 20} more skipped", file=file)


def print_warnings(info: dict) -> None:
    """The warnings a data set's loading recorded (``info["warnings"]``), one line each on stderr."""
    for w in info.get("warnings", []):
        print(f"graphcls: warning: {w}", file=sys.stderr)
