"""The records container as the reconciler sees it: a file version's documents, removed when
the version ends failed or vanished (an attempt may have written part of them)."""

from __future__ import annotations

import contextlib
import logging

from azure.core.exceptions import AzureError
from azure.cosmos import ContainerProxy
from azure.cosmos.exceptions import CosmosResourceNotFoundError

from batch_core.cosmosdb import translate

log = logging.getLogger(__name__)


class Records:
    """The records port over the Cosmos DB container the worker writes documents to."""

    def __init__(self, container: ContainerProxy) -> None:
        self._c = container

    def purge(self, file_key: str) -> int:
        """Delete every document of one file version; return how many."""
        query = "SELECT c.id, c.pk FROM c WHERE c.file_key = @k"
        try:
            found = list(
                self._c.query_items(
                    query,
                    parameters=[{"name": "@k", "value": file_key}],
                    enable_cross_partition_query=True,
                )
            )
            for doc in found:
                with contextlib.suppress(CosmosResourceNotFoundError):  # gone already
                    self._c.delete_item(doc["id"], partition_key=doc["pk"])
        except AzureError as e:
            raise translate(e, f"remove the documents of file version {file_key}") from e
        if found:
            log.info("removed %d documents of file version %s", len(found), file_key)
        return len(found)
