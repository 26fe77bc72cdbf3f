

def print_md_table(header, rows) -> None:
    """Print a Markdown table: ``header`` cells, then one line per row of cells (already formatted)."""
    print("| " + " | ".join(header) + " |")
    print("| " + " | ".join("---" for _ in header) + " |")
    for row in rows:
        print("| " + " | ".join(str(c) for c in row) + " |")
