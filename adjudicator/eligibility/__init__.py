"""Eligibility: the cover in force for each claim line (batch) or for one member and date (point of service)."""

from adjudicator.eligibility.batch import eligibility, eligibility_report
from adjudicator.eligibility.index import CoverageIndex, build_index
from adjudicator.eligibility.point import MemberIndex, OverlapIndex

__all__ = ["eligibility", "eligibility_report", "CoverageIndex", "build_index", "MemberIndex", "OverlapIndex"]
