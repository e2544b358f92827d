"""The API contract's accepted exceptions: failures schemathesis reports that are not
mismatches between the server and its OpenAPI document, each with its reason.

A failure is dropped only when one entry below matches it exactly: the operation, the
failure's kind, the status answered and the error's `code` and `field` (and, where one
field can fail for several reasons, a piece of the message). Anything else fails the
run. Each entry used is counted and printed at the end of the run.
"""

import atexit
import collections
import json
import re
import sys
from dataclasses import dataclass

import schemathesis


@dataclass(frozen=True)
class Accepted:
    operation: str  # "METHOD /path" as schemathesis labels it
    failure: str  # the failure's class: RejectedPositiveData is ST202 (valid request refused)
    status: int
    code: str  # the error body's `code`
    field: str  # a regular expression the error body's `field` matches whole
    message: str  # a regular expression found in the error's message
    reason: str

    def matches(self, operation: str, failure: str, status: int, error: dict) -> bool:
        return (
            (operation, failure, status) == (self.operation, self.failure, self.status)
            and error.get("code") == self.code
            and re.fullmatch(self.field, str(error.get("field", ""))) is not None
            and re.search(self.message, str(error.get("message", ""))) is not None
        )


RANGE = "`until` must be after `since`: a rule between two fields, which JSON Schema cannot state"
UNKNOWN_DEPENDENCY = (
    "`depends_on` names jobs that must exist (or, in a batch, refs of the same batch): "
    "a fuzzer cannot know which do"
)

INEXACT = (
    "a payload's number must keep its digits: an integer written whole must fit 64 bits (a double "
    "would change it), while the same value written with an exponent is a double kept exactly; JSON Schema "
    "sees one value and cannot tell the two writings apart"
)

# A depends_on entry names a job that does not exist, or is neither a UUID nor a ref.
DEPENDENCY = r"does not exist|is neither a job id nor the ref"

ACCEPTED = [
    Accepted("GET /v1/jobs", "RejectedPositiveData", 400, "invalid_query", "until", "must be after since", RANGE),
    Accepted("POST /v1/jobs/bulk", "RejectedPositiveData", 422, "invalid", r"filter\.until", "must be after since", RANGE),
    Accepted(
        "POST /v1/jobs/bulk",
        "RejectedPositiveData",
        422,
        "invalid",
        r"filter\.status",
        "applies only to jobs in",
        "each action fits some statuses (cancel: unfinished jobs; retry_now: PENDING; requeue: DEAD_LETTER), "
        "a rule between `action` and `filter.status`",
    ),
    Accepted("POST /v1/jobs", "RejectedPositiveData", 422, "invalid", "depends_on", DEPENDENCY, UNKNOWN_DEPENDENCY),
    Accepted(
        "POST /v1/jobs/batch",
        "RejectedPositiveData",
        422,
        "invalid",
        r"(jobs\[\d+\]\.)?depends_on",
        DEPENDENCY,
        UNKNOWN_DEPENDENCY,
    ),
    Accepted(
        "POST /v1/jobs",
        "RejectedPositiveData",
        422,
        "invalid",
        r"payload.*",
        "cannot be stored exactly",
        INEXACT,
    ),
    Accepted(
        "POST /v1/jobs/batch",
        "RejectedPositiveData",
        422,
        "invalid",
        r"(jobs\[\d+\]\.)?payload.*",
        "cannot be stored exactly",
        INEXACT,
    ),
    Accepted(
        "POST /v1/jobs/batch",
        "RejectedPositiveData",
        422,
        "invalid",
        r"jobs\[\d+\]\.ref",
        "names two jobs of the batch",
        "each `ref` names one job of its batch: JSON Schema cannot say that a property is unique across items",
    ),
    Accepted(
        "POST /v1/jobs/batch",
        "RejectedPositiveData",
        422,
        "invalid",
        r"(jobs\[\d+\]\.)?depends_on",
        "closes a cycle|cannot depend on itself",
        "the jobs of a batch, linked by their refs in `depends_on`, form no cycle: a rule over the whole graph",
    ),
]

USED: collections.Counter[str] = collections.Counter()


@schemathesis.hook
def filter_failure(context, failure, case, response) -> bool:
    try:
        error = json.loads(response.content or b"{}").get("error") or {}
    except (ValueError, AttributeError):
        return True
    if not isinstance(error, dict):
        return True
    for accepted in ACCEPTED:
        if accepted.matches(case.operation.label, type(failure).__name__, response.status_code, error):
            USED[f"{accepted.operation} {accepted.status} {accepted.field}: {accepted.reason}"] += 1
            return False
    return True


@atexit.register
def _report() -> None:
    if USED:
        print("\nAccepted exceptions (tests/contract/exceptions.py), times dropped:", file=sys.stderr)
        for what, count in sorted(USED.items()):
            print(f"  {count:5}  {what}", file=sys.stderr)
