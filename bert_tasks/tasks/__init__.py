"""The task registry: adapters are reached by name, never by ``if task == ...``.

Adding a task = one module here that subclasses :class:`TaskAdapter` and is
decorated with :func:`register_task`, plus one recipe.
"""

from . import classification, masked_lm, multihead, multilabel, span_qa, tagging  # noqa: F401  (registers the adapters they define)
from .base import TASKS, TaskAdapter, TaskOptions, get_task, register_task

__all__ = ["TASKS", "TaskAdapter", "TaskOptions", "get_task", "register_task"]
