"""One pytest test per API operation, with the operation's schemathesis cases built when that test
runs, not when it is collected.

`schema.parametrize()` builds every operation's hypothesis test while pytest collects the module,
and the coverage phase makes that expensive: its cases are worked out up front (a hypothesis run
per value it wants to cover) and attached as explicit examples, about 40 s of CPU for this API.
Every xdist worker collects every module, so each paid it, and `-m "not slow"` paid it too (a
deselected test is still collected). Here collection only lists the operations (a test id per
operation, from the schema served once at import, which is cheap) and the test builds its
operation's hypothesis test with schemathesis' own builder, the one `schema.parametrize()` uses,
with the same project configuration, seed per operation, phases (examples, coverage, fuzzing;
positive and negative) and the test function's `@settings`. So the cases are the ones
`schema.parametrize()` would run; only the moment they are built moves.

Outcomes are reported as schemathesis' pytest plugin reports them for its own tests: a failure of
a check as schemathesis formats it, hypothesis' own output silenced, an operation whose cases
cannot be generated (unsatisfiable, unserializable, an invalid pattern or header example, a path
parameter missing) as the error schemathesis names, and an operation the schema does not define
validly as a failing test.
"""

from __future__ import annotations

import unittest
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis.errors import FailedHealthCheck, InvalidArgument, Unsatisfiable
from schemathesis.checks import load_all_checks
from schemathesis.core.control import SkipTest
from schemathesis.core.errors import (
    SERIALIZERS_SUGGESTION_MESSAGE,
    IncorrectUsage,
    InvalidHeadersExample,
    InvalidRegexPattern,
    InvalidSchema,
    SerializationNotPossible,
)
from schemathesis.core.failures import FailureGroup, as_reported_failure
from schemathesis.core.result import Ok
from schemathesis.generation.feedback import FeedbackSources
from schemathesis.generation.hypothesis import builder
from schemathesis.generation.hypothesis.reporting import (
    build_health_check_error,
    build_unsatisfiable_error,
    ignore_hypothesis_output,
)
from schemathesis.pytest._keys import track_schema
from schemathesis.pytest._test_builder import build_operation_test
from schemathesis.pytest.warnings import (
    emit_constants_warnings,
    emit_openapi_auth_warnings,
    emit_unserializable_payload_warning,
)
from schemathesis.python._constants.orchestrator import make_constants_value_source
from schemathesis.schemas import BaseSchema


def _label(result: Any) -> str:
    if isinstance(result, Ok):
        return result.ok().label
    error = result.err()
    return f"{error.method.upper()} {error.path}" if error.method else error.path


class LazyOperations:
    """The schema's operations, listed at collection; each one's cases built by `run`."""

    def __init__(self, schema: BaseSchema) -> None:
        self.schema = schema
        self._operations = {_label(result): result for result in schema.get_all_operations()}
        self._feedback: FeedbackSources | None = None
        # The warnings schemathesis emits when it collects a schema (an auth scheme the
        # configuration does not use, constants it cannot scan), once.
        emit_openapi_auth_warnings(schema)
        emit_constants_warnings(schema)

    def ids(self) -> list[str]:
        """One test id per operation ("GET /api/v1/contacts/"), as `schema.parametrize()` names them."""
        return list(self._operations)

    def run(self, label: str, test_func: Callable, request: pytest.FixtureRequest, **fixtures: Any) -> None:
        """Build the operation's hypothesis test around `test_func(case, **fixtures)` and run it."""
        __tracebackhide__ = True
        load_all_checks()
        track_schema(request.config, self.schema)  # for checks that run once at the session's end
        result = self._operations[label]
        if not isinstance(result, Ok):
            result.err().as_failing_test_function()()  # an operation the schema does not define validly
        if self._feedback is None:
            self._feedback = FeedbackSources(constants_value_source=make_constants_value_source(self.schema))
        # The coverage phase's cases are worked out here (a malformed definition raises InvalidSchema).
        test = build_operation_test(
            config=self.schema.config,
            operation=result.ok(),
            test_func=test_func,
            given_kwargs={},
            feedback=self._feedback,
        )
        _run(test, fixtures)


def _run(test: Callable, fixtures: dict[str, Any]) -> None:
    __tracebackhide__ = True
    try:
        with ignore_hypothesis_output():
            test(**fixtures)
    except FailureGroup as exc:
        raise as_reported_failure(exc) from None
    except InvalidArgument as exc:
        if "Inconsistent args" in str(exc) and "@example()" in str(exc):
            from schemathesis.generation.hypothesis.given import GIVEN_AND_EXPLICIT_EXAMPLE_ERROR_MESSAGE

            raise IncorrectUsage(GIVEN_AND_EXPLICIT_EXAMPLE_ERROR_MESSAGE) from None
        raise InvalidSchema(exc.args[0]) from None
    except (SkipTest, unittest.SkipTest) as exc:
        _raise_generation_error(test)
        pytest.skip(exc.args[0])
    except FailedHealthCheck as exc:
        raise build_health_check_error(builder.ApiOperationMark.get(test), exc, with_tip=True) from None
    except Unsatisfiable:
        operation = builder.ApiOperationMark.get(test)
        raise build_unsatisfiable_error(
            operation, with_tip=True, filter_tracker=operation.filter_case_tracker
        ) from None
    # The operation ran, but part of it was left untested: a warning, the cases that ran still pass.
    unserializable = builder.UnserializablePayloadMark.get(test)
    if unserializable is not None:
        emit_unserializable_payload_warning(unserializable)
    invalid_headers = builder.InvalidHeadersExampleMark.get(test)
    if invalid_headers is not None:
        raise InvalidHeadersExample.from_headers(invalid_headers)
    missing_path_parameters = builder.MissingPathParameters.get(test)
    if missing_path_parameters:
        raise missing_path_parameters


def _raise_generation_error(test: Callable) -> None:
    """An operation skipped because no case could be generated: the reason schemathesis names."""
    if builder.UnsatisfiableExampleMark.is_set(test):
        raise Unsatisfiable("Failed to generate test cases from examples for this API operation")
    non_serializable = builder.NonSerializableMark.get(test)
    if non_serializable is not None:
        raise SerializationNotPossible(
            "Failed to generate test cases from examples for this API operation because of"
            f" unsupported payload media types: {', '.join(non_serializable.media_types)}\n"
            f"{SERIALIZERS_SUGGESTION_MESSAGE}",
            media_types=non_serializable.media_types,
        )
    invalid_regex = builder.InvalidRegexMark.get(test)
    if invalid_regex is not None:
        raise InvalidRegexPattern.from_jsonschema_rs_error(invalid_regex)
    invalid_headers = builder.InvalidHeadersExampleMark.get(test)
    if invalid_headers is not None:
        raise InvalidHeadersExample.from_headers(invalid_headers)
