"""Decision specs: batch_core's rules on the in-memory twins, no server, driven step by step
with a fake clock. A test says what the world does (a file lands, a task ends, a service
fails) and what the pipeline decides."""

from __future__ import annotations

import pytest

from batch_core.testing import MemoryPipeline, memory_pipeline


@pytest.fixture
def p() -> MemoryPipeline:
    """A pipeline in memory with the default settings."""
    return memory_pipeline()
