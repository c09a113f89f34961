"""Report hook for mlp: with [data] samples, the fraction of samples in each outcome."""

from __future__ import annotations

CASE = "mlp"


def tables(study) -> list:
    """Per format and softmax implementation: the samples by their worst outcome over every
    quantity and layer, and by the outcome of their loss alone."""
    from ._samples import has_samples, outcome_fractions

    rec = study.records
    if not has_samples(rec):
        return []
    return [
        outcome_fractions(study, rec, "Samples by worst outcome (every quantity, every layer)",
                          "Each sample (a row of [data] x) counted once, by the worst outcome "
                          "among its pre-activations, activations, deltas, weight gradients "
                          "and loss; the percentage of the samples, and their number."),
        outcome_fractions(study, rec[rec["quantity"] == "loss"], "Samples by outcome of the loss",
                          "Each sample counted once, by the outcome of its loss."),
    ]
