"""Mesa agents: thin views onto the model's state arrays."""

from .node import NodeAgent

__all__ = ["NodeAgent"]
