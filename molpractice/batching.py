"""Mini-batches of graphs without re-collating them every epoch.

``torch_geometric.loader.DataLoader`` builds every mini-batch with ``Batch.from_data_list``: a Python loop over
the graphs and their attributes, once per batch per epoch (about a sixth of a chapter-1 training run). Here a
split is collated **once** into contiguous tensors (:class:`CollatedGraphs`); a batch of any graphs is then a
few index operations — rows of node- and edge-level tensors gathered by index arithmetic, ``edge_index``
shifted to the batch's node offsets, graph-level rows (``y``, ``descriptors``) picked, ``batch`` and ``ptr``
rebuilt — and equals ``Batch.from_data_list`` of the same graphs tensor for tensor.

:class:`GraphLoader` is a drop-in for ``DataLoader(graphs, batch_size, shuffle, generator=...)`` that makes
the same random draws in the same order (torch 2.x: one int64 for the iterator's base seed from
``generator`` — the global generator when there is none —, then the sampler's ``randperm``), so a training
run gives bit-identical batches and results. Graphs with attributes this fast path does not handle (nested,
sparse, ``Index``/``EdgeIndex`` tensors, per-graph dtypes, …) fall back to ``Batch.from_data_list`` per
batch: same result, old speed.
"""
from __future__ import annotations

import math

import torch

_INT_DTYPES = (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64)


def _cumsum(x):
    """PyG's ``cumsum``: a leading zero, then the running sum (same dtype)."""
    out = x.new_zeros(x.numel() + 1)
    torch.cumsum(x, 0, out=out[1:])
    return out


class _Unsupported(Exception):
    pass


class CollatedGraphs:
    """A sequence of ``torch_geometric.data.Data`` graphs collated once; ``batch(indices)`` gives the
    ``Batch`` that ``Batch.from_data_list([graphs[i] for i in indices])`` would give.

    It is still a sequence of the original graphs (``len``, indexing, iteration), so it can be passed where
    graphs are expected. ``fast`` is False when the graphs need the fallback (``reason`` says why).
    """

    def __init__(self, graphs):
        if isinstance(graphs, CollatedGraphs):
            graphs = graphs.graphs
        self.graphs = list(graphs)
        self.fast, self.reason = False, ""
        self._tensors_on_cpu = False
        self._batch_init = None  # (Batch class, constructor arguments), made on the first batch
        if not self.graphs:
            self.reason = "no graphs"
            return
        try:
            self._prepare()
            self.fast = True
        except _Unsupported as err:
            self.reason = str(err)

    def __len__(self):
        return len(self.graphs)

    def __getitem__(self, i):
        return self.graphs[i]

    def __iter__(self):
        return iter(self.graphs)

    # -------------------------------------------------------------------------------------- collation
    def _prepare(self):
        from torch_geometric.data import Data
        from torch_geometric.data.storage import NodeStorage

        first = self.graphs[0]
        cls = type(first)
        if not isinstance(first, Data):
            raise _Unsupported(f"graphs are {cls.__name__}, not torch_geometric Data")
        keys = list(first._store.keys())  # insertion order, as collate iterates them
        key_set = set(keys)
        for g in self.graphs:
            if type(g) is not cls or set(g.keys()) != key_set:
                raise _Unsupported("graphs differ in class or attributes")
        if key_set & {"num_nodes", "ptr", "batch"} or any("batch" in k for k in keys):
            raise _Unsupported("graphs carry num_nodes/ptr/batch attributes")
        self.cls, self.keys = cls, keys
        self.fields = []  # (key, kind, payload)
        self._groups = {}  # sizes signature -> (sizes, starts, all_ones)
        for key in keys:
            values = [g[key] for g in self.graphs]
            elem = values[0]
            repeats = [g.__inc__(key, v, g._store) for g, v in zip(self.graphs, values)]
            if any(not isinstance(r, int) or isinstance(r, bool) for r in repeats):
                raise _Unsupported(f"attribute {key!r} has a non-integer increment")
            inc = torch.tensor(repeats)
            has_inc = bool(inc.ne(0).any())
            if isinstance(elem, torch.Tensor):
                if any(type(v) is not torch.Tensor or v.is_sparse or getattr(v, "is_nested", False)
                       or v.dtype != elem.dtype or v.device != elem.device or v.requires_grad for v in values):
                    raise _Unsupported(f"attribute {key!r} is not a plain tensor of one dtype")
                if has_inc and elem.dtype not in _INT_DTYPES:
                    raise _Unsupported(f"attribute {key!r} is incremented but not an integer tensor")
                cat_dim = first.__cat_dim__(key, elem, first._store)
                if cat_dim is None or elem.dim() == 0:
                    values = [v.unsqueeze(0) for v in values]
                    cat_dim = 0
                if not isinstance(cat_dim, int):
                    raise _Unsupported(f"attribute {key!r} has cat dim {cat_dim!r}")
                sizes = torch.tensor([v.size(cat_dim) for v in values])
                try:
                    value = torch.cat(values, dim=cat_dim)
                except RuntimeError as err:
                    raise _Unsupported(f"attribute {key!r}: {err}") from None
                self.fields.append((key, "tensor", (value, cat_dim, self._group(sizes), inc if has_inc else None)))
            elif isinstance(elem, (bool, int, float)):
                if has_inc:
                    raise _Unsupported(f"number attribute {key!r} is incremented")
                self.fields.append((key, "number", values))
            elif isinstance(elem, (str, type(None))) or not hasattr(elem, "__len__"):
                if any(isinstance(v, torch.Tensor) for v in values):
                    raise _Unsupported(f"attribute {key!r} mixes tensors and other values")
                self.fields.append((key, "list", values))
            else:
                raise _Unsupported(f"attribute {key!r} of type {type(elem).__name__}")
        self._add_batch = isinstance(first._store, NodeStorage) and first._store.can_infer_num_nodes
        if self._add_batch:
            self._num_nodes = torch.tensor([g.num_nodes or 0 for g in self.graphs])
        self._tensors_on_cpu = all(payload[0].is_cpu for _, kind, payload in self.fields if kind == "tensor")

    @property
    def on_cpu(self) -> bool:
        """True when every tensor of every batch is on the CPU already (so ``batch.to("cpu")`` changes nothing)."""
        return self.fast and self._tensors_on_cpu and torch.empty(0).is_cpu

    def _new_batch(self):
        """An empty ``Batch(_base_cls=self.cls)``: PyG's ``DynamicInheritance.__call__`` with its per-call work
        (building a metaclass and reading ``__init__``'s signature, a fifth of a batch's collation) done once."""
        from torch_geometric.data.batch import DynamicInheritance

        if self._batch_init is None:
            import inspect

            from torch_geometric.data import Batch

            batch_cls = type(Batch(_base_cls=self.cls))
            params = list(inspect.signature(self.cls.__init__).parameters.items())
            kwargs = {k: None for k, v in params[1:]  # the arguments PyG fills with None
                      if k not in ("args", "kwargs") and v.default is inspect.Parameter.empty}
            self._batch_init = (batch_cls, kwargs)
        batch_cls, kwargs = self._batch_init
        return super(DynamicInheritance, batch_cls).__call__(**kwargs)

    def _group(self, sizes):
        key = tuple(sizes.tolist())
        if key not in self._groups:
            self._groups[key] = (sizes, _cumsum(sizes)[:-1], bool(sizes.eq(1).all()))
        return key

    # ----------------------------------------------------------------------------------------- batches
    def batch(self, indices):
        """The ``Batch`` of the graphs at ``indices`` (a sequence or 1-D tensor of positions), in that order."""
        from torch_geometric.data import Batch

        idx = torch.as_tensor(indices, dtype=torch.long).reshape(-1)
        if not self.fast:
            return Batch.from_data_list([self.graphs[i] for i in idx.tolist()])
        n = idx.numel()
        if n == 0:
            raise ValueError("a batch needs at least one graph")
        gathered = {}  # group -> (gather index, slices, counts)
        for gkey, (sizes, starts, ones) in self._groups.items():
            if ones:
                counts = torch.ones(n, dtype=sizes.dtype)
                gathered[gkey] = (idx, _cumsum(counts), counts)
                continue
            counts = sizes[idx]
            slices = _cumsum(counts)
            total = int(slices[-1])
            rows = torch.repeat_interleave(starts[idx] - slices[:-1], counts, output_size=total)
            gathered[gkey] = (rows + torch.arange(total), slices, counts)
        out = self._new_batch()
        out.stores_as(self.graphs[0])
        store = out._store
        slice_dict, inc_dict = {}, {}
        idx_list = None
        for key, kind, payload in self.fields:
            if kind == "tensor":
                value, cat_dim, gkey, inc = payload
                rows, slices, counts = gathered[gkey]
                part = value.index_select(cat_dim, rows)
                if inc is None:
                    incs = torch.zeros(n, dtype=torch.long)
                else:
                    incs = _cumsum(inc[idx][:-1])
                    if int(incs[-1]) != 0:
                        shape = [1] * part.dim()
                        shape[cat_dim] = -1
                        part = part + incs.repeat_interleave(counts).to(part.dtype).reshape(shape)
                store[key] = part
                slice_dict[key], inc_dict[key] = slices, incs
            else:
                if idx_list is None:
                    idx_list = idx.tolist()
                values = [payload[i] for i in idx_list]
                if kind == "number":
                    store[key] = torch.tensor(values)
                    inc_dict[key] = torch.zeros(n, dtype=torch.long)
                else:
                    store[key] = values
                    inc_dict[key] = None
                slice_dict[key] = torch.arange(n + 1)
        if self._add_batch:
            counts = self._num_nodes[idx]
            store.batch = torch.repeat_interleave(torch.arange(n), counts, output_size=int(counts.sum()))
            store.ptr = _cumsum(counts)
        out._num_graphs = n
        out._slice_dict = slice_dict
        out._inc_dict = inc_dict
        return out


class GraphLoader:
    """``torch_geometric.loader.DataLoader(graphs, batch_size, shuffle, generator=generator)`` over graphs
    collated once: the same batches, in the same order, from the same random draws.

    Args:
        graphs: a sequence of ``Data`` or a :class:`CollatedGraphs` (reused, not re-collated).
        batch_size: graphs per batch (the last one may be smaller).
        shuffle: a new random order every epoch (every ``iter``).
        generator: the ``torch.Generator`` of the shuffling (and of the loader's base seed); None = the
            global generator, as ``DataLoader``.
    """

    def __init__(self, graphs, batch_size: int = 1, shuffle: bool = False, generator=None):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.data = collated(graphs)
        self.batch_size, self.shuffle, self.generator = int(batch_size), bool(shuffle), generator

    def __len__(self):
        return math.ceil(len(self.data) / self.batch_size)

    @property
    def on_cpu(self) -> bool:
        """True when every batch's tensors are on the CPU already (:attr:`CollatedGraphs.on_cpu`)."""
        return self.data.on_cpu

    def __iter__(self):
        n = len(self.data)
        # torch.utils.data._BaseDataLoaderIter.__init__: the base seed, drawn even without workers
        torch.empty((), dtype=torch.int64).random_(generator=self.generator)
        if not self.shuffle:
            for start in range(0, n, self.batch_size):
                yield self.data.batch(torch.arange(start, min(start + self.batch_size, n)))
            return
        gen = self.generator
        if gen is None:  # RandomSampler without a generator seeds a fresh one from the global generator
            seed = int(torch.empty((), dtype=torch.int64).random_().item())
            gen = torch.Generator()
            gen.manual_seed(seed)
        order = torch.randperm(n, generator=gen)
        for start in range(0, n, self.batch_size):
            yield self.data.batch(order[start:start + self.batch_size])
        # RandomSampler ends with randperm(n)[: num_samples % n] (empty here): one more draw, as torch does
        torch.randperm(n, generator=gen)


def collated(graphs) -> CollatedGraphs:
    """``graphs`` as a :class:`CollatedGraphs` (itself if it already is one)."""
    return graphs if isinstance(graphs, CollatedGraphs) else CollatedGraphs(graphs)


def loader(graphs, batch_size: int, shuffle: bool = False, generator=None):
    """The mini-batches every trainer here iterates (:class:`GraphLoader`)."""
    return GraphLoader(graphs, batch_size, shuffle, generator)
