"""The assets container (`DROPBATCH_CONTAINER_CONFIG`): the files routes and start tasks read
as `config:<path>`, pushed by `dropbatch assets push`, and the worker wheel."""

from __future__ import annotations

import mimetypes
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from azure.core.exceptions import AzureError, ResourceExistsError, ResourceNotFoundError
from azure.storage.blob import BlobServiceClient, ContentSettings

from batch_core.blobstore import translate
from batch_core.errors import PermanentError
from batch_core.settings import Settings
from batch_core.workerwheel import WorkerWheel, worker_wheel

WHEEL_TYPE = "application/zip"


@dataclass(frozen=True)
class Pushed:
    """One uploaded file: its blob name and size."""

    name: str
    size: int


class Assets:
    """The assets container: files that pools and tasks download (the worker wheel, start-task and
    task files)."""

    def __init__(self, service: BlobServiceClient, settings: Settings) -> None:
        self._svc = service
        self.container = settings.container_config

    def provision(self) -> None:
        """Create the assets container if missing."""
        try:
            self._svc.create_container(self.container)
        except ResourceExistsError:
            pass
        except AzureError as e:
            raise translate(e, f"create container {self.container}") from e

    def upload(self, name: str, data: bytes, content_type: str) -> None:
        """Write (overwriting) an asset, creating the container when it is missing."""
        try:
            self._svc.get_blob_client(self.container, name).upload_blob(
                data, overwrite=True, content_settings=ContentSettings(content_type=content_type)
            )
        except ResourceNotFoundError:
            self.provision()
            self.upload(name, data, content_type)
        except AzureError as e:
            raise translate(e, f"upload {self.container}/{name}") from e

    def exists(self, name: str) -> bool:
        """Whether the asset is there."""
        try:
            return bool(self._svc.get_blob_client(self.container, name).exists())
        except AzureError as e:
            raise translate(e, f"read {self.container}/{name}") from e

    def ensure_worker_wheel(self, wheel: WorkerWheel | None = None) -> str:
        """Upload the worker wheel unless it is there (its name changes with its content);
        return its blob name."""
        wheel = wheel or worker_wheel()
        if not self.exists(wheel.blob_name):
            self.upload(wheel.blob_name, wheel.data, WHEEL_TYPE)
        return wheel.blob_name

    def push(
        self, folder: Path, prefix: str, progress: Callable[[Pushed], object] = lambda _: None
    ) -> list[Pushed]:
        """Upload every file under `folder` to `<prefix>/<relative path>`, overwriting."""
        if not folder.is_dir():
            raise PermanentError(f"{folder}: not a folder")
        base = prefix.strip("/")
        if any(part in ("", ".", "..") for part in base.split("/")) and base:
            raise PermanentError(f"{prefix}: expected a relative prefix such as app/v1")
        pushed: list[Pushed] = []
        for path in _files(folder):
            relative = path.relative_to(folder).as_posix()
            name = f"{base}/{relative}" if base else relative
            data = path.read_bytes()
            kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            self.upload(name, data, kind)
            pushed.append(Pushed(name, len(data)))
            progress(pushed[-1])
        return pushed


def _files(folder: Path) -> Iterator[Path]:
    return iter(sorted(p for p in folder.rglob("*") if p.is_file()))
