"""The serve app: MLflow's scoring protocol plus the monitoring endpoints, on FastAPI.

The app answers MLflow's scoring protocol (``POST /invocations`` with the same payload formats
and errors as ``mlflow models serve``, ``GET /ping``, ``GET /health``, ``GET /version``) and
the monitoring endpoints:

=====================================  ==========================================================
``POST /predict``                      one row (JSON object) or rows (array); returns prediction
                                       ids, predicted labels and probabilities
``GET /monitoring/status``             the monitor's status (this worker) and the store's counts
``POST /monitoring/feedback``          ``{"prediction_id", "true_label"}`` or
                                       ``{"feedback": [...]}``; needs the token if one is set
``POST /monitoring/trigger-retraining``  ``{"reason", "details"}``; needs the token if one is set
``GET /monitoring/metrics``,           Prometheus text format (all workers' metrics)
``GET /metrics``
=====================================  ==========================================================

Every worker loads the model and records into the shared inference store, so feedback sent to
any worker finds a prediction made by any other once it has been written (within
``store_flush_seconds``). The store's leader lock lets one worker run the periodic checks (see
:mod:`mlflow_monitor.serving.server` for how the workers are run).

Errors are JSON ``{"error_code", "message"}`` with a 4xx status for anything the client can
fix: a malformed payload (400), an unknown prediction id (404), a label that was already given
(409), a value the monitor or the model rejects (422), a body over the size limit (413), a
missing or wrong token (401). A 503 means the inference store is unavailable or did not
answer in time: ``/health`` waits 2 s at most for the store's state, the other monitoring
endpoints 5 s (a feedback batch 5 s per label), so a locked or stalled database never hangs a
client or an orchestrator's probe (see :mod:`mlflow_monitor.serving.store_calls`). ``/ping``
never touches the store: use it for liveness and ``/health`` for readiness.
"""

from __future__ import annotations

import asyncio
import contextvars
import hmac
import logging
import math
import os
import time
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from contextlib import asynccontextmanager, contextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field, StrictFloat, StrictInt, StrictStr

from mlflow_monitor._mlflow_compat import score_invocation
from mlflow_monitor.exceptions import (
    ConfigError,
    DataValidationError,
    FeedbackError,
    MonitorError,
    StoreError,
    UnknownPredictionError,
)
from mlflow_monitor.model.loading import load_monitored_model
from mlflow_monitor.redaction import SecretFilter, describe_exception, redact_uri
from mlflow_monitor.serving.admission import Admission, OverloadedError, TooManyRowsError
from mlflow_monitor.serving.settings import TOKEN_ENV, ServeSettings
from mlflow_monitor.serving.store_calls import HEALTH_SECONDS, Progress, StoreCalls

__all__ = ["MAX_FEEDBACK_BATCH", "create_app"]

logger = logging.getLogger(__name__)

MAX_FEEDBACK_BATCH = 10_000

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class _BodyLimit:
    """ASGI middleware: refuse bodies over ``limit`` bytes with 413, declared or streamed."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await _send_error(send, 413, "REQUEST_TOO_LARGE", self._message())
            return
        seen = 0
        refused = False

        async def limited_receive() -> Message:
            nonlocal seen, refused
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    if not refused:
                        refused = True
                        await _send_error(send, 413, "REQUEST_TOO_LARGE", self._message())
                    # The app sees a client that went away; what it answers is dropped.
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if not refused:
                await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not refused:
                raise

    def _message(self) -> str:
        return f"request body over the limit of {self.limit} bytes"


async def _send_error(send: Send, status: int, code: str, message: str) -> None:
    import json

    body = json.dumps({"error_code": code, "message": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class AsciiJSONResponse(JSONResponse):
    """JSON with every non-ASCII character escaped: a value no UTF-8 can carry (a lone
    surrogate kept by an older version) is still answered, never a 500."""

    def render(self, content: Any) -> bytes:
        import json

        return json.dumps(
            content, ensure_ascii=True, allow_nan=False, separators=(",", ":")
        ).encode()


class FeedbackItem(BaseModel):
    """One true label (a class, or a regression model's target value) for an earlier
    prediction; the monitor checks that it fits its task."""

    prediction_id: StrictStr = Field(min_length=1, max_length=255)
    true_label: StrictInt | StrictStr | StrictFloat


class FeedbackBatch(BaseModel):
    """Several true labels at once."""

    feedback: list[FeedbackItem] = Field(min_length=1, max_length=MAX_FEEDBACK_BATCH)


class TriggerRequest(BaseModel):
    """Why retraining is triggered by hand, and context for the callbacks."""

    reason: StrictStr = Field(default="manual", min_length=1, max_length=200)
    details: dict[str, Any] = Field(default_factory=dict)


class _UnauthorizedError(Exception):
    pass


_bearer = HTTPBearer(auto_error=False)


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value JSON can carry."""
    return value.item() if hasattr(value, "item") else value


def _finite(value: Any) -> Any:
    """``value`` with NaN and infinities replaced by None, so it is valid JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


_STATUS_OF_ERROR: tuple[tuple[type[Exception], int, str], ...] = (
    (TooManyRowsError, 413, "TOO_MANY_ROWS"),
    (OverloadedError, 503, "OVERLOADED"),
    (UnknownPredictionError, 404, "UNKNOWN_PREDICTION_ID"),
    (FeedbackError, 409, "ALREADY_LABELLED"),
    (StoreError, 503, "STORE_UNAVAILABLE"),
    (DataValidationError, 422, "INVALID_VALUE"),
    (ConfigError, 422, "INVALID_VALUE"),
    (MonitorError, 400, "BAD_REQUEST"),
)


def _client_ids(given: list[Any], id_column: str) -> list[str]:
    """Validated prediction ids sent with the rows (unique, non-empty, at most 255 characters),
    so that every id answered is one the monitor records."""
    from mlflow_monitor.monitor.validation import prediction_id_column
    from mlflow_monitor.store.interface import as_list

    try:
        return as_list(prediction_id_column(given, len(given)))
    except FeedbackError as exc:  # an id repeated in the request
        raise DataValidationError(f"{id_column}: {exc}") from exc


def _writer_state(store: Any) -> dict[str, Any]:
    """What this process knows of its store without asking the database."""
    since = getattr(store, "unavailable_since", None)
    return {
        "model_name": getattr(store, "model_name", None),
        "model_version": getattr(store, "model_version", None),
        "state": "unavailable" if since is not None else "not answering",
        "unavailable_seconds": None if since is None else round(time.monotonic() - since, 1),
        "dropped": getattr(store, "dropped", 0),
        "rejected": getattr(store, "rejected", 0),
    }


def _error_status(exc: MonitorError) -> tuple[int, str]:
    for cls, status, code in _STATUS_OF_ERROR:
        if isinstance(exc, cls):
            return status, code
    return 400, "BAD_REQUEST"  # pragma: no cover - MonitorError is the last entry


def create_app(settings: ServeSettings, model: Any = None) -> Any:
    """The FastAPI app serving ``settings.model_uri`` (or an already loaded ``model``).

    Args:
        settings: what to serve and the limits.
        model: a loaded monitored pyfunc; loaded from ``settings.model_uri`` when None.

    Returns:
        The ASGI app (a FastAPI app wrapped in the body-size limit).
    """
    from mlflow.exceptions import MlflowException
    from mlflow.version import VERSION as MLFLOW_VERSION
    from prometheus_client import CONTENT_TYPE_LATEST

    from mlflow_monitor.metrics.prometheus import exposition
    from mlflow_monitor.model.outputs import interpret_output
    from mlflow_monitor.store.ids import new_ids

    if model is None:
        model = load_monitored_model(settings.model_uri, settings.schedule_checks)
    monitored = model.unwrap_python_model()
    monitor = monitored.monitor
    input_schema = model.metadata.get_input_schema()
    id_column = monitored.settings.id_column
    labels = monitored.settings.labels
    threshold = monitored.settings.threshold
    store_calls = StoreCalls()
    admission = Admission(
        queued=lambda: int(getattr(monitor.store, "queued", 0)),
        queue_size=monitor.config.store_queue_size,
        max_rows=settings.max_rows,
        small_rows=monitor.config.store_batch_size,
    )
    # /invocations rows are counted where MLflow's scoring code hands them to the model; a
    # refusal there is answered by the /invocations handler (MLflow would echo the payload).
    refusal: contextvars.ContextVar[list[MonitorError] | None] = contextvars.ContextVar(
        "refusal", default=None
    )

    @contextmanager
    def admit_invocation(rows: int) -> Iterator[None]:
        try:
            admission.reserve(rows)
        except MonitorError as exc:
            seen = refusal.get()
            if seen is not None:
                seen.append(exc)
            raise
        try:
            yield
        finally:
            admission.release(rows)

    monitored.admit = admit_invocation

    @asynccontextmanager
    async def lifespan(_app: Any) -> Any:
        # uvicorn has configured its loggers by now (in each worker): keep the token and
        # URL secrets out of its access and error logs (a token sent in a query string).
        secrets = SecretFilter([settings.token])
        for name in ("uvicorn.access", "uvicorn.error"):
            named = logging.getLogger(name)
            named.filters = [f for f in named.filters if not isinstance(f, SecretFilter)]
            named.addFilter(secrets)
        yield
        # Stop the checks, release the leader lock and write what is still queued.
        await asyncio.to_thread(monitor.close)
        store_calls.close()
        directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        if directory:
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(os.getpid(), directory)  # type: ignore[no-untyped-call]

    app = FastAPI(
        title="mlflow-monitor",
        summary=f"Monitored model {redact_uri(settings.model_uri)}",
        lifespan=lifespan,
        default_response_class=AsciiJSONResponse,
    )

    def require_token(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> None:
        if settings.token is None:
            return
        given = credentials.credentials if credentials is not None else ""
        if not hmac.compare_digest(given.encode(), settings.token.encode()):
            raise _UnauthorizedError

    @app.exception_handler(_UnauthorizedError)
    async def unauthorized(_request: Request, _exc: _UnauthorizedError) -> Response:
        return AsciiJSONResponse(
            {
                "error_code": "UNAUTHENTICATED",
                "message": f"a valid bearer token is required ({TOKEN_ENV})",
            },
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )

    @app.exception_handler(MonitorError)
    async def monitor_error(_request: Request, exc: MonitorError) -> Response:
        status, code = _error_status(exc)
        headers = {"Retry-After": "1"} if isinstance(exc, OverloadedError) else None
        return AsciiJSONResponse(
            {"error_code": code, "message": str(exc)}, status_code=status, headers=headers
        )

    @app.exception_handler(MlflowException)
    async def mlflow_error(_request: Request, exc: MlflowException) -> Response:
        return Response(
            exc.serialize_as_json(),  # type: ignore[no-untyped-call]
            status_code=exc.get_http_status_code(),  # type: ignore[no-untyped-call]
            media_type="application/json",
        )

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, exc: RequestValidationError) -> Response:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in exc.errors()
        )
        return AsciiJSONResponse(
            {"error_code": "INVALID_PARAMETER_VALUE", "message": problems}, status_code=422
        )

    @app.get("/ping")
    async def ping() -> Response:
        """200 once the model is loaded (as MLflow's scoring server)."""
        return Response("\n", media_type="application/json")

    @app.get("/health")
    async def health() -> Any:
        """Liveness plus whether this worker's monitor runs and leads the checks, and the
        store's counts; 503 with what this process knows of the store when the store does
        not answer within 2 s."""
        about = {"model_uri": redact_uri(settings.model_uri), "pid": os.getpid()}
        lost = getattr(monitor.store, "file_problem", None)
        if lost is not None:  # writes would go into a file no path leads to
            return AsciiJSONResponse(
                {
                    "status": "store_file_lost",
                    **about,
                    "monitoring_active": monitor.is_monitoring,
                    "leader": monitor.is_leader,
                    "store": _writer_state(monitor.store),
                    "message": f"{lost}; restart the server to open a new one",
                },
                status_code=503,
            )
        try:
            status = await store_calls.shared(
                "reading the health", monitor.get_monitoring_status, HEALTH_SECONDS
            )
        except StoreError as exc:
            return AsciiJSONResponse(
                {
                    "status": "store_unavailable",
                    **about,
                    "monitoring_active": monitor.is_monitoring,
                    "leader": monitor.is_leader,
                    "store": _writer_state(monitor.store),
                    "message": str(exc),
                },
                status_code=503,
            )
        return _finite(
            {
                "status": "ok",
                **about,
                "monitoring_active": status["monitoring_active"],
                "leader": status.get("leader"),
                "store": status["store"],
            }
        )

    @app.get("/version")
    async def version() -> Response:
        return Response(MLFLOW_VERSION, media_type="application/json")

    @app.post("/invocations")
    async def invocations(request: Request) -> Response:
        """MLflow's scoring protocol: CSV, JSON (dataframe_split, dataframe_records,
        instances, inputs) or Parquet; the answer is ``{"predictions": ...}``."""
        data = await request.body()
        content_type = request.headers.get("content-type") or ""
        refused: list[MonitorError] = []
        token = refusal.set(refused)
        try:
            result = await asyncio.to_thread(
                score_invocation, data, content_type, model, input_schema
            )
        except MlflowException:
            if not refused:
                raise
            result = None
        finally:
            refusal.reset(token)
        if refused:  # the admission policy's answer, not MLflow's (which quotes the payload)
            exc = refused[0]
            status, code = _error_status(exc)
            if isinstance(exc, TooManyRowsError):
                status, code = 400, "INVALID_PARAMETER_VALUE"  # as MLflow says for bad input
            headers = {"Retry-After": "1"} if isinstance(exc, OverloadedError) else None
            return AsciiJSONResponse(
                {"error_code": code, "message": str(exc)}, status_code=status, headers=headers
            )
        assert result is not None
        return Response(result.response, status_code=result.status, media_type=result.mimetype)

    @app.post("/predict")
    async def predict(rows: dict[str, Any] | list[dict[str, Any]]) -> Any:
        """Predict one row (a JSON object of input columns) or several (an array of them).

        A row may carry its own ``prediction_id``; otherwise one is generated. Each answer
        has ``prediction_id``, ``prediction`` and ``probability`` (null when the model returns
        labels only); send ``prediction_id`` back with the true label to
        ``/monitoring/feedback``.
        """
        import pandas as pd

        single = isinstance(rows, dict)
        records = [rows] if isinstance(rows, dict) else rows
        if not records:
            raise DataValidationError("no rows to predict: send an object or a non-empty array")
        frame = pd.DataFrame.from_records(records)
        given = [r.get(id_column) for r in records]
        if any(v is not None for v in given):
            if any(v is None for v in given):
                raise DataValidationError(
                    f"{id_column!r} is given for some rows but not others: give it for all or none"
                )
            ids = _client_ids(given, id_column)
        else:
            ids = new_ids(len(records))
        frame[id_column] = ids
        try:
            # The monitored model admits the rows first (admit_invocation): 413 or 503.
            output = await asyncio.to_thread(model.predict, frame)
        except MonitorError:
            raise
        except MlflowException:
            raise  # the input does not match the model's signature: 400, as MLflow says
        except Exception as exc:
            # As MLflow's scoring server: an input the model fails on is the client's 400.
            logger.info("the model failed on a /predict input: %s", describe_exception(exc))
            raise DataValidationError(
                f"the model failed on this input: {describe_exception(exc)}"
            ) from exc
        predicted, probabilities = interpret_output(
            output,
            threshold=threshold,
            labels=(labels[0], labels[1]),
            task=monitor.config.task,
            classes=monitored.settings.classes,
        )
        answers = [
            {
                "prediction_id": pid,
                "prediction": predicted[i].item()
                if hasattr(predicted[i], "item")
                else predicted[i],
                "probability": None if probabilities is None else float(probabilities[i]),
            }
            for i, pid in enumerate(ids)
        ]
        return _finite(answers[0] if single else answers)

    @app.get("/monitoring/status")
    async def status() -> Any:
        """The status of this worker's monitor; ``store`` counts every worker's records."""
        return _finite(await store_calls.run("reading the status", monitor.get_monitoring_status))

    @app.post("/monitoring/feedback", dependencies=[Depends(require_token)])
    async def feedback(payload: FeedbackItem | FeedbackBatch) -> dict[str, Any]:
        """Record true labels: one ``{"prediction_id", "true_label"}`` or a batch
        ``{"feedback": [...]}``. A single label answers 404 for an unknown id and 409 for one
        already labelled; a batch records what it can and lists the rejected items."""
        if isinstance(payload, FeedbackItem):
            item = payload
            await store_calls.run(
                "recording a label",
                lambda: monitor.record_feedback(item.prediction_id, item.true_label),
            )
            return {"recorded": 1, "rejected": []}

        def record_all(progress: Progress) -> dict[str, Any]:
            rejected = []
            for index, item in enumerate(payload.feedback):
                if index and not progress.step():
                    break  # the request was answered 503: the store stalled
                try:
                    monitor.record_feedback(item.prediction_id, item.true_label)
                except (FeedbackError, DataValidationError) as exc:
                    status_code, code = _error_status(exc)
                    rejected.append(
                        {
                            "index": index,
                            "prediction_id": item.prediction_id,
                            "status": status_code,
                            "error_code": code,
                            "message": str(exc),
                        }
                    )
            return {"recorded": len(payload.feedback) - len(rejected), "rejected": rejected}

        return await store_calls.run_with_progress("recording labels", record_all)

    @app.post("/monitoring/trigger-retraining", dependencies=[Depends(require_token)])
    async def trigger(payload: TriggerRequest | None = None) -> Any:
        """Fire a retraining trigger now (ignores the cooldown); callbacks and the
        configured retraining project run as for an automatic trigger."""
        request = payload or TriggerRequest()
        event = await asyncio.to_thread(monitor.trigger_retraining, request.reason, request.details)
        return _finite(event.to_dict())

    def metrics_response() -> Response:
        metrics = monitor.prometheus_metrics
        if metrics is None:
            raise ConfigError("Prometheus metrics are off (enable_prometheus=False)")
        # Drops by the store's background writer since the last recording.
        monitor.export_store_counters()
        metrics.set_store_file_lost(getattr(monitor.store, "file_problem", None) is not None)
        return Response(exposition(metrics), media_type=CONTENT_TYPE_LATEST)

    # Documented as what it is, Prometheus' text format (FastAPI would say JSON).
    text: dict[int | str, dict[str, Any]] = {
        200: {"description": "Prometheus text format", "content": {"text/plain": {}}}
    }
    app.get("/monitoring/metrics", response_class=Response, responses=text)(metrics_response)
    app.get("/metrics", response_class=Response, responses=text)(metrics_response)
    return _BodyLimit(app, settings.max_body_bytes)
