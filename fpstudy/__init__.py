"""fpstudy: floating-point precision studies against exact mpmath ground truth.

Library access for notebooks:

    >>> import fpstudy
    >>> records = fpstudy.load("results/deep_product")      # doctest: +SKIP
    >>> table = fpstudy.summary("results/deep_product")     # doctest: +SKIP
"""

__version__ = "0.1.0"
__all__ = ["load", "summary", "__version__"]


def load(path):
    """The records of one experiment (results/<name>/ or a file in it) as a pandas DataFrame."""
    from .results import load as _load
    return _load(path)


def summary(path):
    """The summary table (outcome runs along the sweep axis) of one experiment."""
    from .results import summary as _summary
    return _summary(path)
