"""The Batch SDK client and its errors: the client for the settings, Batch's error codes, and
SDK errors translated into dropbatch's (transient or permanent)."""

from __future__ import annotations

import json

from azure.batch import BatchClient
from azure.core.exceptions import (
    AzureError,
    HttpResponseError,
    ServiceRequestError,
    ServiceResponseError,
)

from batch_core.credentials import batch_credential
from batch_core.errors import DropbatchError, NotFoundError, PermanentError, TransientError
from batch_core.settings import Settings
from batch_core.telemetry import RequestCounter
from worker.transport import pooled_transport


def batch_client(settings: Settings) -> BatchClient:
    """A Batch client for the account the settings name, with its key or the identity."""
    credential = batch_credential(settings.batch_account, settings.batch_key, settings.identity)
    counter = RequestCounter("batch_requests")  # once per call, not per retry
    return BatchClient(
        settings.batch_url, credential, per_call_policies=[counter], transport=pooled_transport()
    )


def error_code(error: AzureError) -> str | None:
    """Batch's error code (TaskExists, JobNotFound, ...) from an SDK exception."""
    model = getattr(error, "model", None)
    code = getattr(model, "code", None)
    if code:
        return str(code)
    response = getattr(error, "response", None)
    if response is None:
        return None
    try:
        response.read()  # a streamed error response (file downloads) is not read yet
        body = json.loads(response.text())
    except (AzureError, ValueError, TypeError, AttributeError):
        return None
    return str(body.get("code")) if isinstance(body, dict) and body.get("code") else None


def enum_text(value: object, default: str) -> str:
    """The wire value of an SDK enum (str() of these gives 'BatchTaskState.COMPLETED')."""
    if value is None:
        return default
    return str(getattr(value, "value", value))


def translate(error: AzureError, doing: str) -> DropbatchError:
    """The dropbatch error for a Batch SDK error: transient (retry later) or permanent, naming what
    was being done."""
    code = error_code(error)
    if isinstance(error, ServiceRequestError | ServiceResponseError):
        return TransientError(f"{doing}: Batch unreachable ({type(error).__name__})")
    if isinstance(error, HttpResponseError):
        status = error.status_code or 0
        if status in (401, 403):
            return PermanentError(
                f"{doing}: Batch refused the credentials (HTTP {status} {code or ''}); check "
                "DROPBATCH_BATCH_ACCOUNT and DROPBATCH_BATCH_KEY, or the app identity's role on "
                "the Batch account"
            )
        if status == 404:
            return NotFoundError(f"{doing}: {code or 'not found'}")
        if status in (408, 429) or status >= 500:
            return TransientError(f"{doing}: Batch answered HTTP {status} {code or ''}".rstrip())
        return PermanentError(f"{doing}: Batch answered HTTP {status} {code or ''}".rstrip())
    return PermanentError(f"{doing}: {type(error).__name__}: {error}")
