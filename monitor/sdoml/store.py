"""Read-only Zarr v2 stores, from a local directory or an fsspec URL: what SDOML needs.

SDOML v2 was written with zarr-python 2 (``.zgroup``/``.zarray``/``.zattrs``
JSON documents, one file per chunk named ``i.j.k``, Blosc-compressed). Reading
that needs only the chunk grid and the codecs, so this module reads the format
itself with ``numcodecs`` rather than depending on one zarr-python major
version: zarr-python 3 reads v2 stores too, but its API and defaults moved
between releases, and a reader that names the store and key of every problem
is easier to write against the documents than against a library's errors.

Remote stores (``s3://``, ``gs://``) go through fsspec's filesystems, which
come with the optional extra ``pip install 'sdo-monitor[sdoml]'`` (s3fs,
gcsfs). The public SDOML buckets are read anonymously by default.

Chunks that are absent read as the array's ``fill_value`` (Zarr semantics:
the writer skips chunks that hold only the fill value).
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Store", "StoreError", "ZArray", "open_store", "storage_options"]

#: Decoded chunks kept per array: SDOML AIA chunks hold 15 (or 120) frames, and
#: consecutive frames of a split mostly sit in the same chunk.
CHUNK_CACHE = 2


class StoreError(ValueError):
    """A store that does not follow the expected layout; names the store and the key."""

    def __init__(self, store: str, key: str, reason: str) -> None:
        super().__init__(f"{store}: {key}: {reason}")
        self.store, self.key, self.reason = store, key, reason


def storage_options(url: str, anonymous: bool) -> dict[str, Any]:
    """fsspec options for ``url``: anonymous access to public buckets when asked."""
    scheme = url.split("://", 1)[0] if "://" in url else "file"
    if not anonymous:
        return {}
    if scheme in ("s3", "s3a"):
        return {"anon": True}
    if scheme in ("gs", "gcs"):
        return {"token": "anon"}
    return {}


def open_store(url: str, anonymous: bool = True) -> Store:
    """Open a store root: a local path or an fsspec URL.

    Raises
    ------
    StoreError
        When the URL's protocol needs a package that is not installed (with the
        ``pip install`` line), or the root is not a Zarr v2 group.
    """
    import fsspec

    text = str(url).strip()
    if not text:
        raise StoreError("<empty>", ".zgroup", "no store given")
    try:
        fs, root = fsspec.core.url_to_fs(text, **storage_options(text, anonymous))
    except (ImportError, ValueError) as exc:
        raise StoreError(text, ".zgroup", f"cannot open ({exc}); remote stores need "
                                          "pip install 'sdo-monitor[sdoml]'") from None
    store = Store(text, fs, root.rstrip("/"))
    store.group_meta("")
    return store


@dataclass
class Store:
    """A Zarr v2 hierarchy on an fsspec filesystem (picklable: workers reopen nothing)."""

    url: str
    fs: Any
    root: str

    def _path(self, key: str) -> str:
        return f"{self.root}/{key}" if key else self.root

    def read(self, key: str) -> bytes | None:
        """The bytes stored under ``key``, ``None`` when absent."""
        try:
            return bytes(self.fs.cat_file(self._path(key)))
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StoreError(self.url, key, f"unreadable: {exc}") from None

    def json(self, key: str, *, required: bool = True) -> dict[str, Any]:
        """A JSON document (``.zgroup``, ``.zarray``, ``.zattrs``)."""
        data = self.read(key)
        if data is None:
            if required:
                raise StoreError(self.url, key, "missing")
            return {}
        try:
            value = json.loads(data)
        except ValueError as exc:
            raise StoreError(self.url, key, f"not JSON: {exc}") from None
        if not isinstance(value, dict):
            raise StoreError(self.url, key, "not a JSON object")
        return value

    def group_meta(self, path: str) -> dict[str, Any]:
        """Check that ``path`` is a Zarr v2 group."""
        key = f"{path}/.zgroup" if path else ".zgroup"
        meta = self.json(key)
        if meta.get("zarr_format") != 2:
            raise StoreError(self.url, key, f"zarr_format {meta.get('zarr_format')!r}, "
                                            "expected 2 (SDOML v2 is a Zarr v2 store)")
        return meta

    def children(self, path: str = "") -> list[str]:
        """Names of the entries directly below ``path`` (groups and arrays alike)."""
        try:
            entries = self.fs.ls(self._path(path), detail=False)
        except FileNotFoundError:
            return []
        names = [str(e).rstrip("/").rsplit("/", 1)[-1] for e in entries]
        return sorted(n for n in names if n and not n.startswith("."))

    def has(self, key: str) -> bool:
        """Whether ``key`` exists."""
        return bool(self.fs.exists(self._path(key)))

    def array(self, path: str) -> ZArray:
        """The array at ``path`` (its ``.zarray`` is read and checked now)."""
        return ZArray.open(self, path)


def _codec(store: Store, key: str, config: Any) -> Any:
    import numcodecs

    try:
        return numcodecs.get_codec(dict(config))
    except (TypeError, ValueError, KeyError) as exc:
        raise StoreError(store.url, key, f"unknown codec {config!r}: {exc}") from None


@dataclass
class ZArray:
    """One Zarr v2 array: metadata, attributes, and reads along the first axis."""

    store: Store
    path: str
    shape: tuple[int, ...]
    chunks: tuple[int, ...]
    dtype: np.dtype
    order: str
    fill_value: Any
    separator: str
    compressor: Any
    filters: tuple[Any, ...]
    _attrs: dict[str, Any] | None = field(default=None, repr=False)
    _cache: OrderedDict[tuple[int, ...], np.ndarray] = field(default_factory=OrderedDict,
                                                              repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def open(cls, store: Store, path: str) -> ZArray:
        """Read and check ``path/.zarray``."""
        key = f"{path}/.zarray"
        meta = store.json(key)
        if meta.get("zarr_format") != 2:
            raise StoreError(store.url, key, f"zarr_format {meta.get('zarr_format')!r}, "
                                             "expected 2")
        try:
            shape = tuple(int(n) for n in meta["shape"])
            chunks = tuple(int(n) for n in meta["chunks"])
            dtype = np.dtype(meta["dtype"])
        except (KeyError, TypeError, ValueError) as exc:
            raise StoreError(store.url, key, f"bad shape/chunks/dtype: {exc}") from None
        if len(chunks) != len(shape) or min(chunks, default=1) < 1:
            raise StoreError(store.url, key, f"chunks {chunks} do not fit shape {shape}")
        if dtype.hasobject:
            raise StoreError(store.url, key, f"object dtype {dtype} is not supported")
        order = str(meta.get("order", "C"))
        if order not in ("C", "F"):
            raise StoreError(store.url, key, f"order {order!r}, expected 'C' or 'F'")
        separator = str(meta.get("dimension_separator") or ".")
        if separator not in (".", "/"):
            raise StoreError(store.url, key, f"dimension_separator {separator!r}")
        compressor = meta.get("compressor")
        filters = meta.get("filters") or []
        return cls(store, path, shape, chunks, dtype, order, meta.get("fill_value"), separator,
                   _codec(store, key, compressor) if compressor else None,
                   tuple(_codec(store, key, f) for f in filters))

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_cache"], state["_lock"] = OrderedDict(), None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return self.shape[0]

    @property
    def attrs(self) -> dict[str, Any]:
        """``.zattrs`` (empty when absent), read once."""
        if self._attrs is None:
            self._attrs = self.store.json(f"{self.path}/.zattrs", required=False)
        return self._attrs

    def _empty_chunk(self) -> np.ndarray:
        fill = self.fill_value
        if fill is None or (isinstance(fill, str) and self.dtype.kind in "fc"):
            fill = 0  # "NaN"/"Infinity" strings aside, zarr's default is zero
        return np.full(self.chunks, fill, dtype=self.dtype)

    def chunk(self, index: tuple[int, ...]) -> np.ndarray:
        """The decoded chunk at grid position ``index`` (full chunk shape, padded)."""
        with self._lock:
            hit = self._cache.get(index)
            if hit is not None:
                self._cache.move_to_end(index)
                return hit
        name = self.separator.join(str(i) for i in index)
        key = f"{self.path}/{name}"
        data = self.store.read(key)
        if data is None:
            out = self._empty_chunk()
        else:
            try:
                buf: Any = data
                if self.compressor is not None:
                    buf = self.compressor.decode(buf)
                for codec in reversed(self.filters):
                    buf = codec.decode(buf)
                out = np.frombuffer(bytes(buf) if not isinstance(buf, np.ndarray) else buf,
                                    dtype=self.dtype)
                out = out.reshape(self.chunks, order=self.order)  # type: ignore[call-overload]
            except (ValueError, RuntimeError, TypeError) as exc:
                raise StoreError(self.store.url, key, f"cannot decode chunk: {exc}") from None
        with self._lock:
            self._cache[index] = out
            while len(self._cache) > CHUNK_CACHE:
                self._cache.popitem(last=False)
        return out

    def read(self, start: int, stop: int) -> np.ndarray:
        """Rows ``start:stop`` along the first axis, every other axis whole."""
        n = self.shape[0]
        if not 0 <= start <= stop <= n:
            raise StoreError(self.store.url, self.path, f"rows {start}:{stop} outside 0:{n}")
        out = np.empty((stop - start, *self.shape[1:]), dtype=self.dtype)
        c0 = self.chunks[0]
        rest = [range((s + c - 1) // c) for s, c in zip(self.shape[1:], self.chunks[1:])]
        for ci in range(start // c0, (stop + c0 - 1) // c0 if stop > start else start // c0):
            lo, hi = max(start, ci * c0), min(stop, (ci + 1) * c0)
            for tail in np.ndindex(*[len(r) for r in rest]) if rest else [()]:
                block = self.chunk((ci, *tail))
                dst: list[slice] = [slice(lo - start, hi - start)]
                src: list[slice] = [slice(lo - ci * c0, hi - ci * c0)]
                for axis, t in enumerate(tail, start=1):
                    c, s = self.chunks[axis], self.shape[axis]
                    dst.append(slice(t * c, min((t + 1) * c, s)))
                    src.append(slice(0, min(c, s - t * c)))
                out[tuple(dst)] = block[tuple(src)]
        return out

    def frame(self, row: int) -> np.ndarray:
        """One row (for AIA: one 512 x 512 image)."""
        return self.read(row, row + 1)[0]

    def all(self) -> np.ndarray:
        """The whole array."""
        return self.read(0, self.shape[0])
