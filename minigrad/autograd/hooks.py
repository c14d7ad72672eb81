"""RemovableHandle: what registering a hook returns; `handle.remove()` unregisters it."""
import itertools

_ids = itertools.count()


class RemovableHandle:
    """Holds the registry (a dict) a hook was put in, and the hook's key there."""
    __slots__ = ("_registry", "id")

    def __init__(self, registry: dict) -> None:
        self._registry = registry
        self.id = next(_ids)

    def remove(self) -> None:
        """Unregister the hook (removing it twice is harmless)."""
        self._registry.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


def add_hook(registry: dict, fn) -> RemovableHandle:
    """Put `fn` in `registry` (kept in registration order) and return its handle."""
    if not callable(fn):
        raise TypeError(f"register hook: expected a callable, got {type(fn).__name__}")
    handle = RemovableHandle(registry)
    registry[handle.id] = fn
    return handle
