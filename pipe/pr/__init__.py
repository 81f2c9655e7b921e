"""PR mode's helpers: which files, which branch, and what to do on a re-run.

pipe/commands/pr.py tells the story; these modules hold the parts that need no
Bitbucket API (files.py reads the clone, plan.py names and decides).
"""

from pipe.errors import PipeError


class PrError(PipeError):
    """PR mode cannot go on; str() is one line that says what to fix."""
