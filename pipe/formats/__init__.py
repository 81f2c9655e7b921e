"""What users write in variables and files, and how it reads: the metrics file, THRESHOLDS, TARGET.

Neutral ground between pipe/config/ (which checks them before anything is created) and pipe/report/ (which
reads them again, the metrics file at the destination branch): plain parsers with their own errors, importing
neither.
"""
