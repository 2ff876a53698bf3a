"""The Batch service's injected faults: the stack's shared rule format (see
`devstack.faultrules`)."""

from devstack.faultrules import KINDS, FaultPlan, FaultRule

__all__ = ["KINDS", "FaultPlan", "FaultRule"]
