"""The index report: compute (model fit and figures), cache (one shared entry per survey view), figures
(descriptive statistics), present (what the page shows, in the active language), charts (server-side SVG).

Views use this facade: open a report, read its downloads, and turn an entry into the template's context.
"""
from survey.report.cache import CACHE, ReportState, open_report
from survey.report.charts import fmt
from survey.report.compute import (
    ALL_WAVES, MIN_SEGMENT_N, ReportEntry, estimate_rows, parse_filters, respondent_rows, segment_questions, survey_info, thaw,
)
from survey.report.figures import BANDS
from survey.report.present import context, what_if_lines
from survey.report.whatif import asked as what_if_asked
from survey.report.whatif import what_if
from survey.report.wording import t

__all__ = ["ALL_WAVES", "BANDS", "CACHE", "MIN_SEGMENT_N", "ReportEntry", "ReportState", "context", "estimate_rows", "fmt",
           "open_report", "parse_filters", "respondent_rows", "segment_questions", "survey_info", "t", "thaw",
           "what_if", "what_if_asked", "what_if_lines"]
