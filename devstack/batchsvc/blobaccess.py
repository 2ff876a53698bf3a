"""How a node reaches Blob storage for resource and output files: a SAS in the URL, or the
pool's managed identity named by `identityReference`.

Locally there is no identity endpoint. The node's credentials file (the one the worker reads,
`<node>/shared/dropbatch/credentials.json`, placed by the stack like part of the VM image)
stands in for the pool's user-assigned identity: its storage connection string signs the
blob requests with SharedKey. The file may also list the identities the pool has
(`DROPBATCH_POOL_IDENTITIES`, resource ids); a reference to another one is refused, as Azure
refuses an identity that is not the pool's. An empty or absent list accepts any reference.

A URL with neither a SAS nor an identity goes out anonymously, as Batch sends it, and the
storage service's refusal decides the failure code.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devstack.batchsvc.auth import SIGNED_HEADERS
from devstack.batchsvc.timestamps import now, rfc1123
from worker.credentials import STORAGE_CONNECTION_STRING
from worker.settings import CREDENTIALS_RELATIVE_PATH

POOL_IDENTITIES = "DROPBATCH_POOL_IDENTITIES"
# In a keyless node's credentials file: the base URL of the node's metadata service.
NODE_IDENTITY_AUTHORITY = "DROPBATCH_NODE_IDENTITY_AUTHORITY"
STORAGE_AUDIENCE = "https://storage.azure.com/"
BLOB_API_VERSION = "2021-08-06"


class IdentityError(Exception):
    """The node cannot act as the referenced identity; `status` is what the identity
    endpoint would have answered (400: not an identity of this pool)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class NodeIdentity:
    """The stand-in for the pool's managed identity on one node."""

    account: str = ""
    key: bytes = field(default=b"", repr=False)
    resource_ids: tuple[str, ...] = ()
    where: str = "no credentials file"
    # A keyless node: where its instance metadata service answers for the pool identity.
    authority: str = ""

    @classmethod
    def load(cls, node_root: Path | None) -> NodeIdentity:
        """Read the node's credentials file; none (or no storage key) means no identity."""
        if node_root is None:
            return cls()
        path = node_root / "shared" / CREDENTIALS_RELATIVE_PATH
        where = f"credentials file {path}"
        if not path.is_file():
            return cls(where=f"no {where}")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as e:
            # The message names the file, never its content.
            raise IdentityError(f"{where}: unreadable or not JSON ({type(e).__name__})") from None
        if not isinstance(data, dict):
            raise IdentityError(f"{where}: must hold a JSON object")
        ids = data.get(POOL_IDENTITIES) or []
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise IdentityError(f"{where}: {POOL_IDENTITIES} must be a list of resource ids")
        account, key = _account_key(str(data.get(STORAGE_CONNECTION_STRING) or ""), where)
        authority = str(data.get(NODE_IDENTITY_AUTHORITY) or "")
        return cls(account, key, tuple(i.lower() for i in ids), where, authority)

    def check(self, reference: dict[str, Any]) -> None:
        """Raise IdentityError unless this node can act as the referenced identity."""
        resource_id = str(reference.get("resourceId") or "")
        if not resource_id:
            raise IdentityError("identityReference.resourceId is empty")
        if self.resource_ids and resource_id.lower() not in self.resource_ids:
            raise IdentityError(
                f"the identity {resource_id} is not assigned to the pool "
                f"(known: {len(self.resource_ids)} in the {self.where})"
            )
        if not self.key and not self.authority:
            raise IdentityError(f"the pool's identity has no storage access ({self.where})")

    def bearer(self, reference: dict[str, Any], request: urllib.request.Request) -> None:
        """Authorize with a token for the referenced identity from the node's metadata
        service, as a keyless Batch node does (OAuth needs x-ms-version 2017-11-09 or later)."""
        resource_id = str(reference.get("resourceId") or "")
        query = urllib.parse.urlencode(
            {"api-version": "2018-02-01", "resource": STORAGE_AUDIENCE, "msi_res_id": resource_id}
        )
        ask = urllib.request.Request(
            f"{self.authority.rstrip('/')}/metadata/identity/oauth2/token?{query}",
            headers={"Metadata": "true"},
        )
        try:
            with urllib.request.urlopen(ask, timeout=30) as answer:
                token = json.loads(answer.read())["access_token"]
        except (OSError, ValueError, KeyError) as e:
            raise IdentityError(f"no token for {resource_id}: {type(e).__name__}: {e}") from None
        request.add_header("x-ms-date", rfc1123(now()))
        request.add_header("x-ms-version", BLOB_API_VERSION)
        request.add_header("Authorization", f"Bearer {token}")

    def sign(self, request: urllib.request.Request) -> None:
        """Add x-ms-date, x-ms-version and a SharedKey Authorization header to the request."""
        request.add_header("x-ms-date", rfc1123(now()))
        request.add_header("x-ms-version", BLOB_API_VERSION)
        headers = {name.lower(): value for name, value in request.header_items()}
        if headers.get("content-length") == "0":
            headers["content-length"] = ""  # the 2015-02-21+ rule: a zero length signs empty
        parts = urllib.parse.urlsplit(request.full_url)
        text = request.get_method() + "\n"
        text += "".join(headers.get(name, "") + "\n" for name in SIGNED_HEADERS)
        text += "".join(
            f"{name}:{headers[name].strip()}\n"
            for name in sorted(h for h in headers if h.startswith("x-ms-"))
        )
        text += f"/{self.account}{parts.path}"
        query = urllib.parse.parse_qs(parts.query, keep_blank_values=True)
        for name in sorted(query, key=str.lower):
            text += f"\n{name.lower()}:{','.join(sorted(query[name]))}"
        digest = hmac.new(self.key, text.encode("utf-8"), hashlib.sha256).digest()
        signature = base64.b64encode(digest).decode("ascii")
        request.add_header("Authorization", f"SharedKey {self.account}:{signature}")


def has_sas(url: str) -> bool:
    """True when the URL carries a shared access signature."""
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
    return "sig" in query


def authorize(
    request: urllib.request.Request, reference: dict[str, Any] | None, identity: NodeIdentity
) -> None:
    """Prepare a blob request: a SAS URL goes as is, an identity reference signs it."""
    if not reference or has_sas(request.full_url):
        return
    identity.check(reference)
    if identity.key:
        identity.sign(request)
    else:
        identity.bearer(reference, request)


def without_query(url: str) -> str:
    """The URL without its query: a SAS is a secret, never in task metadata or logs."""
    return urllib.parse.urlsplit(url)._replace(query="").geturl()


def _account_key(connection_string: str, where: str) -> tuple[str, bytes]:
    if not connection_string:
        return "", b""
    parts = dict(item.split("=", 1) for item in connection_string.split(";") if "=" in item.strip())
    account = parts.get("AccountName", "").strip()
    try:
        key = base64.b64decode(parts.get("AccountKey", "").strip(), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if not account or not key:
        raise IdentityError(
            f"{where}: {STORAGE_CONNECTION_STRING} lacks AccountName or a base64 AccountKey"
        )
    return account, key
