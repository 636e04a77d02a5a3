"""The benchmarks (``python -m tools.bench.<name> --help``) and what their command lines share."""
from __future__ import annotations

import argparse


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """``--help`` of a benchmark: the description and examples as written, and every option's default after its
    help, unless the help already says it or there is none to say (a flag, no value, an empty list).

    >>> ap = argparse.ArgumentParser(prog="x", formatter_class=HelpFormatter)
    >>> _ = ap.add_argument("--rows", type=int, default=60000, help="rows per epoch")
    >>> _ = ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2], help="seeds")
    >>> "rows per epoch (default: 60000)" in ap.format_help() and "seeds (default: 1 2)" in ap.format_help()
    True
    """

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (not action.option_strings or default is None or default is argparse.SUPPRESS
                or isinstance(default, bool) or default in ("", [], ()) or "default" in text.lower()):
            return text
        shown = " ".join(map(str, default)) if isinstance(default, (list, tuple)) else str(default)
        return f"{text} (default: {shown.replace('%', '%%')})"

