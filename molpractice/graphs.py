"""Sets of PyTorch Geometric graphs for training: built with a chapter module's featuriser, with
per-molecule descriptors attached."""
from __future__ import annotations

import copy

import numpy as np


def build_graphs(smiles, targets, chapter1, progress: bool = False):
    """One graph per molecule (``chapter1.mol_to_graph``), with ``y`` set.

    Args:
        smiles: n SMILES; targets: n floats (e.g. logS in log10 mol/L).
        chapter1: the module providing ``mol_to_graph`` (learner's or reference).
    Raises:
        ValueError: naming the row whose SMILES could not be featurised.
    """
    if len(smiles) != len(targets):
        raise ValueError(f"{len(smiles)} SMILES but {len(targets)} targets")
    rows = zip(smiles, targets)
    if progress:
        from tqdm.auto import tqdm

        rows = tqdm(list(rows), desc="featurising", leave=False)
    out = []
    for i, (s, y) in enumerate(rows):
        try:
            out.append(chapter1.mol_to_graph(s, float(y)))
        except ValueError as err:
            raise ValueError(f"row {i} ({s!r}) could not be featurised: {err}") from None
    return out


def attach_descriptors(graphs, descriptors: np.ndarray, train_idx):
    """Shallow copies of ``graphs`` carrying ``descriptors`` (n, d), standardised with the training rows'
    mean and standard deviation, as ``data.descriptors`` of shape (1, d) float32."""
    import torch

    desc = np.asarray(descriptors, dtype=np.float64)
    if desc.ndim != 2 or len(desc) != len(graphs):
        raise ValueError(f"descriptors must have shape ({len(graphs)}, d), got {desc.shape}")
    mu, sd = desc[train_idx].mean(0), desc[train_idx].std(0)
    sd[sd == 0] = 1.0
    z = ((desc - mu) / sd).astype(np.float32)
    out = []
    for g, row in zip(graphs, z):
        g2 = copy.copy(g)
        g2.descriptors = torch.from_numpy(row[None, :].copy())
        out.append(g2)
    return out
