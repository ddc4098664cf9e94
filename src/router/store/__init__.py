"""Where the router keeps what it must not lose: the store interface and its implementations."""

from router.store.base import Batch, Loaded, Store, StoreError, batch_of, engine_state
from router.store.memory import MemoryStore

__all__ = ["Batch", "Loaded", "MemoryStore", "Store", "StoreError", "batch_of", "engine_state"]
