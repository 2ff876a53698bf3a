"""Account-level lists with nothing local behind them: images, applications, usage metrics."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from devstack.batchsvc.account import Account
from devstack.batchsvc.errors import BadRequest, NotFound
from devstack.batchsvc.messages import Request, Response
from devstack.batchsvc.odata import ListQuery, page

Handler = Callable[[Account, Request], Response]

# Every node here is this machine; these are the Linux images a pool would name in Azure.
_IMAGES: list[dict[str, Any]] = [
    {
        "nodeAgentSKUId": "batch.node.ubuntu 22.04",
        "imageReference": {
            "publisher": "canonical",
            "offer": "0001-com-ubuntu-server-jammy",
            "sku": "22_04-lts",
            "version": "latest",
        },
        "osType": "linux",
        "verificationType": "verified",
    },
    {
        "nodeAgentSKUId": "batch.node.ubuntu 24.04",
        "imageReference": {
            "publisher": "canonical",
            "offer": "ubuntu-24_04-lts",
            "sku": "server",
            "version": "latest",
        },
        "osType": "linux",
        "verificationType": "verified",
    },
]


def list_supported_images(account: Account, request: Request) -> Response:
    body = page(
        list(enumerate(_IMAGES)),
        ListQuery.from_params(request.params),
        account.registry.url("/supportedimages"),
    )
    body["odata.metadata"] = f"{account.base_url}/$metadata#supportedimages"
    return Response(200, body)


def list_applications(account: Account, request: Request) -> Response:
    return Response(
        200, {"odata.metadata": f"{account.base_url}/$metadata#applications", "value": []}
    )


def get_application(account: Account, request: Request) -> Response:
    raise NotFound(
        "The specified application does not exist; this service has no application packages.",
        code="ApplicationNotFound",
        values={"ApplicationId": request.path_args["applicationId"]},
    )


def list_usage_metrics(account: Account, request: Request) -> Response:
    body = {"odata.metadata": f"{account.base_url}/$metadata#poolusagemetrics", "value": []}
    return Response(200, body)


def not_supported(what: str) -> Handler:
    """A handler for an operation this service leaves out, answering with a clear BatchError."""

    def handler(account: Account, request: Request) -> Response:
        raise BadRequest(
            f"{what} are not supported by this local Batch service.",
            code="FeatureNotSupported",
            values={"Operation": f"{request.method} {request.path}"},
        )

    return handler


def empty_list(check: Callable[[Account, Request], object]) -> Handler:
    """A list that is always empty here, after checking its parent exists."""

    def handler(account: Account, request: Request) -> Response:
        with account.registry.lock:
            check(account, request)
        return Response(200, {"value": []})

    return handler
