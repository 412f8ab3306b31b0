"""The package's expected errors: one base, two kinds.

Whoever catches a driver's or a service's error decides once whether trying again can help, and raises one of:

- `TransientError`: retrying later can succeed (a sink or service that is down, a throttle, a timeout). The
  caller retries with back-off.
- `TerminalError`: retrying can never succeed (rows that never validate, an event for an object that does not
  exist, a key or plan an API refuses). The caller sets the input aside with its reason and moves on.

Every `PipelineError` carries one line a person can act on; the command line prints it and exits 1. The
`classify_*` functions turn the errors of the libraries the pipeline talks through into these kinds, each at the
place that catches them.
"""

from __future__ import annotations

from typing import Final, Literal

Kind = Literal["transient", "terminal"]

__all__ = [
    "Kind",
    "PipelineError",
    "TerminalError",
    "TransientError",
    "classify_botocore",
    "classify_http_status",
    "classify_requests",
    "classify_snowflake",
    "classify_sqlalchemy",
    "classify_yfinance",
    "kind_of",
    "one_line",
]


class PipelineError(Exception):
    """An expected failure, with a one-line message a person can act on."""

    kind: Kind = "terminal"

    @property
    def transient(self) -> bool:
        return self.kind == "transient"


class TransientError(PipelineError):
    """Retrying later can succeed: a service or sink that is down, a throttle, a timeout."""

    kind: Kind = "transient"


class TerminalError(PipelineError):
    """Retrying can never succeed: the input, a key or a plan is refused for what it is."""

    kind: Kind = "terminal"


def one_line(exc: BaseException) -> str:
    """The first line of an exception's message (drivers often add pages of context), or its type."""
    text = str(exc).strip()
    return text.splitlines()[0].strip() if text else type(exc).__name__


def kind_of(exc: BaseException) -> Kind:
    """The kind of any exception: a `PipelineError` says; anything unexpected counts as transient (a bug fixed
    and redeployed lets the retry succeed, and nothing is set aside on a guess)."""
    return exc.kind if isinstance(exc, PipelineError) else "transient"


# --- HTTP ------------------------------------------------------------------------------------------------------

# Answers worth trying again: a timeout, a conflict of the moment, a throttle, the server's own failures.
RETRYABLE_HTTP_STATUS: Final = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


def classify_http_status(status: int) -> Kind:
    """An HTTP status as an error kind: throttles, timeouts and 5xx are transient; any other 4xx is terminal."""
    return "transient" if status in RETRYABLE_HTTP_STATUS or status >= 500 else "terminal"


def classify_requests(exc: BaseException) -> Kind:
    """requests' and curl_cffi's errors: connection problems and timeouts are transient, an HTTP error by status."""
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    if isinstance(status, int):
        return classify_http_status(status)
    try:
        import requests

        if isinstance(exc, requests.exceptions.InvalidURL | requests.exceptions.MissingSchema):
            return "terminal"
    except ImportError:  # pragma: no cover - requests ships with every source
        pass
    return "transient"  # connection refused, reset, DNS, TLS handshake, timeouts


# --- AWS -------------------------------------------------------------------------------------------------------

_AWS_TRANSIENT_CODES: Final = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "SlowDown",
        "RequestTimeout",
        "RequestTimeoutException",
        "InternalError",
        "InternalFailure",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "KMSThrottlingException",
        "PriorRequestNotComplete",
        "TransactionInProgressException",
        "OperationAborted",
        "ExpiredToken",
        "ExpiredTokenException",
        "RequestExpired",
        "IDPCommunicationError",
        "EC2ThrottledException",
    }
)


def classify_botocore(exc: BaseException) -> Kind:
    """botocore's errors: throttles, 5xx, expired credentials and connection failures are transient;
    a missing object or bucket, a denied action or a bad parameter is terminal."""
    from botocore.exceptions import ClientError

    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code in _AWS_TRANSIENT_CODES:
            return "transient"
        if isinstance(status, int) and status >= 500:
            return "transient"
        return "terminal"
    # EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError, NoCredentialsError (a role not yet
    # assumed), IncompleteReadError...: the request never got a verdict.
    return "transient"


# --- Snowflake -------------------------------------------------------------------------------------------------

# Snowflake error numbers that trying again (after reconnecting) can get past.
SNOWFLAKE_SESSION_EXPIRED: Final = 390112  # "Your session has expired. Please login again."
_SNOWFLAKE_TRANSIENT_ERRNOS: Final = frozenset(
    {
        SNOWFLAKE_SESSION_EXPIRED,
        390114,  # authentication token has expired
        250001,  # could not connect to Snowflake backend
        250003,  # failed to get the response (retry exhausted)
        251005,  # connection lost
        251006,  # socket timeout
        251007,  # request timed out
        604,  # statement cancelled (warehouse suspended mid-query, timeout)
        630,  # statement reached its timeout
        # warehouse busy or suspended and resuming
        3001,
    }
)


def classify_snowflake(exc: BaseException) -> Kind:
    """snowflake-connector-python's errors: a lost connection, an expired session or a timeout is transient;
    a refused login, a missing object or a statement the server refuses for its content is terminal."""
    try:
        from snowflake.connector import errors as sf
    except ImportError:  # pragma: no cover - only called where the connector is installed
        return "transient"
    errno = getattr(exc, "errno", None)
    if isinstance(errno, int) and errno in _SNOWFLAKE_TRANSIENT_ERRNOS:
        return "transient"
    if isinstance(exc, sf.OperationalError | sf.InterfaceError):
        # 250001 and friends arrive as OperationalError; a refused login (390100, 390144...) too, but with an
        # errno in the 390xxx range that no retry fixes.
        if isinstance(errno, int) and 390000 <= errno < 391000:
            return "terminal"
        return "transient"
    if isinstance(exc, sf.ProgrammingError | sf.IntegrityError | sf.DataError | sf.NotSupportedError):
        return "terminal"
    if isinstance(exc, sf.DatabaseError | sf.InternalError):
        return "transient"
    return "transient"


# --- SQLAlchemy ------------------------------------------------------------------------------------------------


def classify_sqlalchemy(exc: BaseException) -> Kind:
    """SQLAlchemy's errors: a lost or refused connection, a pool timeout or a deadlock is transient; a row the
    database refuses (integrity, data) or a statement it cannot run is terminal."""
    from sqlalchemy import exc as sa

    if isinstance(exc, sa.DBAPIError) and exc.connection_invalidated:
        return "transient"
    if isinstance(exc, sa.OperationalError | sa.InterfaceError | sa.DisconnectionError | sa.TimeoutError):
        text = str(exc).lower()
        if "syntax" in text or "no such table" in text or "no such column" in text:
            return "terminal"
        return "transient"  # includes SQL Server's deadlock victim (1205) and SQLite's "database is locked"
    if isinstance(exc, sa.IntegrityError | sa.DataError | sa.ProgrammingError | sa.NotSupportedError):
        return "terminal"
    if isinstance(exc, sa.ArgumentError | sa.NoSuchModuleError | sa.CompileError):
        return "terminal"  # a URL or dialect that can never work
    return "transient"


# --- yfinance --------------------------------------------------------------------------------------------------


def classify_yfinance(exc: BaseException) -> Kind:
    """yfinance's errors: a rate limit or a network failure is transient; a symbol Yahoo does not know is terminal."""
    name = type(exc).__name__
    if name == "YFRateLimitError":
        return "transient"
    if name in {"YFTickerMissingError", "YFPricesMissingError", "YFInvalidPeriodError", "YFTzMissingError"}:
        return "terminal"
    return classify_requests(exc)
