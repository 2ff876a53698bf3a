"""A local service that speaks the Azure Batch REST API and runs tasks as local processes."""

from devstack.batchsvc.server import BatchService, ServiceConfig

__all__ = ["BatchService", "ServiceConfig"]
