"""MC dropout (Gal & Ghahramani 2016) for chapter 3's one-model comparison with deep ensembles: a trained
model's dropout layers kept active at prediction time, batch norm in eval mode."""
from __future__ import annotations

import numpy as np


def mc_dropout_predict(model, graphs, passes: int, seed: int = 0):
    """MC dropout (Gal & Ghahramani 2016): ``passes`` forward passes with the dropout layers active (batch
    norm stays in eval mode). Returns ``(means, variances)`` each (passes, n) for a mean–variance model
    (``means`` only for a one-output model), in the target's unit."""
    import torch

    from .batching import collated
    from .training import predict

    if passes < 1:
        raise ValueError(f"passes must be >= 1, got {passes}")
    outs = []
    graphs = collated(graphs)  # once for all passes
    torch.manual_seed(seed)
    for _ in range(passes):
        outs.append(_predict_with_dropout(model, graphs, predict))
    model.eval()
    if isinstance(outs[0], tuple):
        return np.stack([o[0] for o in outs]), np.stack([o[1] for o in outs])
    return np.stack(outs)


def _predict_with_dropout(model, graphs, predict):
    """``training.predict`` with the dropout layers active: it calls ``model.eval()``, so for this call
    ``eval`` is followed by switching every ``Dropout`` back to training mode (batch norm stays in eval)."""
    import torch

    original_eval = model.eval

    def eval_keep_dropout():
        original_eval()
        for module in model.modules():
            if isinstance(module, torch.nn.Dropout):
                module.train()
        return model

    model.eval = eval_keep_dropout
    try:
        return predict(model, graphs)
    finally:
        del model.eval
