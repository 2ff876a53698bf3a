"""Keep the in-memory Cosmos DB server's data across restarts of the local stack: export every
database, container and document to a JSON file before the server stops, and import it after
the server starts. Done through the real SDK, so the server's internals stay its own."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from azure.cosmos import CosmosClient, PartitionKey

log = logging.getLogger(__name__)
SNAPSHOT_VERSION = 1


def save(client: CosmosClient, path: Path) -> int:
    """Write every document to `path` (atomically); return how many."""
    databases: list[dict[str, Any]] = []
    count = 0
    for db_props in client.list_databases():
        db = client.get_database_client(db_props["id"])
        containers = []
        for c_props in db.list_containers():
            container = db.get_container_client(c_props["id"])
            docs = [
                {k: v for k, v in doc.items() if not k.startswith("_")}
                for doc in container.read_all_items()
            ]
            count += len(docs)
            containers.append(
                {
                    "id": c_props["id"],
                    "partition_key": c_props["partitionKey"]["paths"][0],
                    "documents": docs,
                }
            )
        databases.append({"id": db_props["id"], "containers": containers})
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"version": SNAPSHOT_VERSION, "databases": databases}))
    tmp.replace(path)
    return count


def load(client: CosmosClient, path: Path) -> int:
    """Recreate what `save` wrote; return how many documents."""
    if not path.exists():
        return 0
    snapshot = json.loads(path.read_text())
    if snapshot.get("version") != SNAPSHOT_VERSION:
        log.warning("ignoring Cosmos snapshot %s of version %s", path, snapshot.get("version"))
        return 0
    count = 0
    for db_doc in snapshot["databases"]:
        db = client.create_database_if_not_exists(db_doc["id"])
        for c_doc in db_doc["containers"]:
            container = db.create_container_if_not_exists(
                c_doc["id"], PartitionKey(c_doc["partition_key"])
            )
            for doc in c_doc["documents"]:
                container.upsert_item(doc)
                count += 1
    return count
