"""Plugin registries: built-in classes plus those other packages register by entry point.

Trackers (``trackerbench.trackers``) and workloads (``trackerbench.workloads``) are both found
this way. Looking a name up imports only that plugin's module.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class PluginError(Exception):
    """A registered plugin could not be imported, or is not the kind of class it claims."""


class Registry(Generic[T]):
    """Plugins of one ``kind``: ``builtin`` ("name" -> "module:Class") plus entry points.

    A built-in name wins over an entry point of the same name.
    """

    def __init__(
        self,
        kind: str,
        group: str,
        builtin: dict[str, str],
        base: type[T],
        order: Callable[[str], object] = lambda name: name,
    ) -> None:
        self.kind, self.group, self.base = kind, group, base
        self._builtin = dict(builtin)
        self._order = order

    def entries(self) -> dict[str, str]:
        """Every registered name and the ``module:Class`` it points at."""
        found = dict(self._builtin)
        for ep in importlib.metadata.entry_points(group=self.group):
            found.setdefault(ep.name, ep.value)
        return found

    def names(self) -> list[str]:
        """Every registered name, in this registry's order."""
        return sorted(self.entries(), key=self._order)

    def load(self, name: str) -> type[T]:
        """The class registered as ``name``.

        Raises ``KeyError`` naming the valid choices for an unknown name, and
        :class:`PluginError` for a plugin that cannot be imported or has the wrong type.
        """
        entries = self.entries()
        if name not in entries:
            raise KeyError(f"unknown {self.kind} {name!r}; valid: {', '.join(self.names())}")
        module, _, attr = entries[name].partition(":")
        try:
            cls = getattr(importlib.import_module(module), attr)
        except Exception as exc:  # a broken third-party plugin: say which one, and why
            raise PluginError(
                f"{self.kind} {name!r} ({entries[name]}) cannot be loaded: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        if not (isinstance(cls, type) and issubclass(cls, self.base)):
            raise PluginError(
                f"{entries[name]} ({self.kind} {name!r}) is not a {self.base.__name__} subclass"
            )
        return cls
