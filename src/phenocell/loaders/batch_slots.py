"""Batch buffers that a loader fills and its consumer reads, recycled instead of made anew for each batch.

A batch of tiles read out of the tile store is a memory copy, so everything around the copy counts. torch's
own hand-off of a batch from a DataLoader worker costs more than the copy: the worker allocates a fresh
shared-memory block (the kernel zero-fills and maps each of its pages on the first write), the block's file
descriptor travels to the main process over a socket, and the main process maps it again. Even in one
process, a fresh batch allocation page-faults on every page. A :class:`BatchSlots` pool is made once, before
any worker starts: ``count`` slots, each the size of a full batch, and a free list of slot numbers.

Whoever fills a batch takes a free slot (:meth:`BatchSlots.take`) and fills its NumPy views
(:meth:`BatchSlots.arrays`). In a worker, the batch goes back to the main process as a :class:`SlotBatch`:
the slot's number and the batch's small arrays are all that is pickled, and unpickling it in the main
process (:func:`rebuild`) gives the batch dict, its tensors views of the slot through one NumPy array. The
slot is given back when that array is freed, that is when the last tensor viewing the slot is gone, so a
batch stays valid for as long as anything references it (a pinned copy in flight, a list of batches), and
nothing ever writes into a slot that something still reads. When no slot is free (the consumer holds many
batches) the filler falls back to a fresh buffer.

Shared pools (for worker processes) live in an anonymous shared mapping that forked workers inherit; their
free list is a pipe, whose write (main process) and read (worker) order the main process's last reads of a
slot before a worker's next writes into it; a worker takes the slot given back last (its pages are the
likeliest to be in the CPU's caches). Workers started another way (spawn, forkserver) do not share the
mapping: the pool pickles as ``None`` and their batches take torch's own path. A pool for one process (no
workers) is private memory with a last-in-first-out free list, so a consumer that keeps one batch at a time
alternates between two slots that stay in the CPU's cache.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import math
import mmap
import os
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

ALIGN = 64  # bytes: every field and every slot starts on a cache line
_SLOT_ID = 4  # bytes per slot number in a shared pool's free pipe (pipe writes this small are atomic)
_POOLS: weakref.WeakValueDictionary[tuple[int, int], BatchSlots] = weakref.WeakValueDictionary()
_NUMBERS = itertools.count()

#: A batch field: name → (shape after the batch dimension, dtype).
Fields = dict[str, tuple[tuple[int, ...], np.dtype]]
#: Where a field of an ``n``-tile batch lies in a slot: name → (byte offset, full shape, dtype).
Layout = dict[str, tuple[int, tuple[int, ...], np.dtype]]


def layout(fields: Fields, n: int) -> tuple[Layout, int]:
    """Byte offset, full shape and dtype of each field of an ``n``-tile batch in a slot, and bytes used."""
    return _layout(tuple(fields.items()), n)


@functools.lru_cache(maxsize=256)
def _layout(fields: tuple[tuple[str, tuple[tuple[int, ...], np.dtype]], ...], n: int) -> tuple[Layout, int]:
    out, offset = {}, 0
    for name, (shape, dtype) in fields:
        out[name] = (offset, (n, *shape), np.dtype(dtype))
        offset += _aligned(math.prod((n, *shape)) * np.dtype(dtype).itemsize)
    return out, offset


def _aligned(n: int) -> int:
    return -(-n // ALIGN) * ALIGN


def tensor_views(flat: torch.Tensor, fields: Fields, n: int) -> dict[str, torch.Tensor]:
    """Tensors of the fields of an ``n``-tile batch laid out (:func:`layout`) in the uint8 tensor ``flat``.

    ``flat`` holds at least the bytes :func:`layout` says the batch uses, a multiple of ``ALIGN``.
    """
    return _views(flat, _strided(tuple(fields.items()), n))


_Strided = list[tuple[str, torch.dtype, tuple[int, ...], tuple[int, ...], int]]


def _views(flat: torch.Tensor, spec: _Strided) -> dict[str, torch.Tensor]:
    typed = {torch.uint8: flat}
    out = {}
    for name, dtype, shape, strides, offset in spec:
        if dtype not in typed:
            typed[dtype] = flat.view(dtype)
        out[name] = typed[dtype].as_strided(shape, strides, offset)
    return out


@functools.lru_cache(maxsize=256)
def _strided(fields: tuple[tuple[str, tuple[tuple[int, ...], np.dtype]], ...], n: int) -> _Strided:
    """Per field: name, torch dtype, shape, contiguous strides and offset, in elements of that dtype."""
    spec = []
    for name, (offset, shape, dtype) in _layout(fields, n)[0].items():
        strides = tuple(math.prod(shape[k + 1 :]) for k in range(len(shape)))
        spec.append((name, _TORCH[dtype], shape, strides, offset // dtype.itemsize))
    return spec


class BatchSlots:
    """``count`` slots, each holding one batch of up to ``batch_size`` tiles of ``fields``.

    ``shared``: in memory that forked DataLoader workers share (they fill, the main process reads);
    otherwise private to this process (no workers).
    """

    def __init__(self, fields: Fields, batch_size: int, count: int, *, shared: bool) -> None:
        self.fields, self.batch_size, self.count, self.shared = dict(fields), batch_size, count, shared
        self.slot_bytes = _aligned(layout(fields, batch_size)[1])
        total = self.slot_bytes * count
        self._free: list[int] = []
        if shared:
            self._map = mmap.mmap(-1, total, flags=mmap.MAP_SHARED)
            self.memory = np.frombuffer(self._map, dtype=np.uint8)
            self._read, self._write = os.pipe()
            os.set_blocking(self._read, False)
            os.write(self._write, b"".join(k.to_bytes(_SLOT_ID, "little") for k in range(count)))
            weakref.finalize(self, _close_fds, self._read, self._write)
        else:
            self.memory = np.empty(total, dtype=np.uint8)
            self._free = list(range(count - 1, -1, -1))  # pop() takes slot 0 first
        self.key = (os.getpid(), next(_NUMBERS))
        _POOLS[self.key] = self
        self._views: dict[tuple[int, int], dict[str, np.ndarray]] = {}
        self._specs: dict[int, tuple[int, _Strided]] = {}  # n → bytes used, tensor views
        self._watch: dict[int, weakref.ref[np.ndarray]] = {}  # slot → weak reference to its batch's array
        self._freed = [functools.partial(_freed, weakref.ref(self), slot) for slot in range(count)]

    def __reduce__(self) -> tuple[Callable[[], None], tuple[()]]:
        """Pickled (for a spawned worker) as None: it cannot share the mapping; batches take torch's path."""
        return (_no_pool, ())

    def take(self) -> int | None:
        """The free slot given back last (now the caller's to fill), or None when every slot is in use.

        The last one given back holds the batch read last, whose pages the CPU's caches are likeliest to
        still hold (a batch copied into a cold slot costs up to half as much again). A shared pool's pipe is
        first in, first out: a filler reads every free number, keeps the newest and writes the others back,
        oldest first (another worker reading in that instant finds none and fills a fresh buffer).
        """
        if not self.shared:
            return self._free.pop() if self._free else None
        try:
            data = os.read(self._read, _SLOT_ID * self.count)
        except BlockingIOError:
            return None
        if len(data) > _SLOT_ID:
            os.write(self._write, data[:-_SLOT_ID])
        return int.from_bytes(data[-_SLOT_ID:], "little")

    def give_back(self, slot: int) -> None:
        """Mark ``slot`` free (when the last view of the batch in it is freed, or its filling failed)."""
        if not self.shared:
            self._free.append(slot)
            return
        with contextlib.suppress(OSError):  # closed meanwhile (interpreter exit): nothing to recycle into
            os.write(self._write, slot.to_bytes(_SLOT_ID, "little"))

    def arrays(self, slot: int, n: int) -> dict[str, np.ndarray]:
        """NumPy views of the fields of an ``n``-tile batch (``n <= batch_size``) in ``slot``, to fill."""
        key = (slot, n)
        if key not in self._views:
            start = slot * self.slot_bytes
            views = {}
            for name, (offset, shape, dtype) in layout(self.fields, n)[0].items():
                size = math.prod(shape) * dtype.itemsize
                views[name] = self.memory[start + offset : start + offset + size].view(dtype).reshape(shape)
            self._views[key] = views
        return self._views[key]

    def batch(self, slot: int, n: int) -> dict[str, torch.Tensor]:
        """The tensors of the ``n``-tile batch in ``slot``; the slot is given back once they are all freed.

        In the process that made the pool. The tensors share one storage, made from one new NumPy view
        of the slot; that view lives as long as the storage, and a weak reference to it gives the slot back.
        """
        if n not in self._specs:
            items = tuple(self.fields.items())
            self._specs[n] = (_layout(items, n)[1], _strided(items, n))
        used, spec = self._specs[n]
        start = slot * self.slot_bytes
        owner = self.memory[start : start + used]
        self._watch[slot] = weakref.ref(owner, self._freed[slot])
        return _views(torch.from_numpy(owner), spec)


def _freed(pool: weakref.ref[BatchSlots], slot: int, _: Any) -> None:
    live = pool()
    if live is not None:
        live.give_back(slot)


def _close_fds(*fds: int) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


def _no_pool() -> None:
    return None


class SlotBatch:
    """What a worker returns for a batch filled into a slot: pickled as the slot's number and ``extra``.

    ``extra`` holds the batch's other entries (small arrays, tensors), pickled as they are; ``finish`` (a
    module-level function, pickled by name) turns the rebuilt dict into the batch the consumer gets.
    """

    __slots__ = ("extra", "finish", "key", "n", "slot")

    def __init__(
        self,
        key: tuple[int, int],
        slot: int,
        n: int,
        extra: dict[str, Any],
        finish: Callable[[dict[str, Any]], dict[str, Any]],
    ) -> None:
        self.key, self.slot, self.n, self.extra, self.finish = key, slot, n, extra, finish

    def __reduce__(self) -> tuple[Callable[..., dict[str, Any]], tuple[Any, ...]]:
        return (rebuild, (self.key, self.slot, self.n, self.extra, self.finish))


def rebuild(
    key: tuple[int, int],
    slot: int,
    n: int,
    extra: dict[str, Any],
    finish: Callable[[dict[str, Any]], dict[str, Any]],
) -> dict[str, Any]:
    """The batch of a :class:`SlotBatch`, in the process that made the pool (the DataLoader's main one)."""
    pool = _POOLS.get(key)
    if pool is None or key[0] != os.getpid():
        raise RuntimeError(f"batch slot pool {key} is not open in process {os.getpid()}")
    return finish({**extra, **pool.batch(slot, n)})


_TORCH = {
    np.dtype(np.uint8): torch.uint8,
    np.dtype(np.int32): torch.int32,
    np.dtype(np.int64): torch.int64,
    np.dtype(np.float16): torch.float16,
    np.dtype(np.float32): torch.float32,
}
