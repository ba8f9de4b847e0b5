"""dedup: overlap removal of concurrent basic covers, supplementary validation, duplicate lines."""

from adjudicator.dedup.duplicates import apply_submissions, duplicate_findings
from adjudicator.dedup.overlap import OverlapReport, Policy, find_overlaps, load_policy, overlap_findings, overlap_report

__all__ = [
    "apply_submissions",
    "duplicate_findings",
    "OverlapReport",
    "Policy",
    "find_overlaps",
    "load_policy",
    "overlap_findings",
    "overlap_report",
]
