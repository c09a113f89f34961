"""fpstudy: floating-point precision studies against exact mpmath ground truth.

Library access for notebooks:

    >>> import fpstudy
    >>> result = fpstudy.run_experiment("experiments/deep_product.toml")  # doctest: +SKIP
    >>> result.save("results")           # writes results/deep_product/  # doctest: +SKIP
    >>> records = fpstudy.load("results/deep_product")      # doctest: +SKIP
    >>> table = fpstudy.summary("results/deep_product")     # doctest: +SKIP
"""

__version__ = "0.1.0"
__all__ = ["Result", "load", "run_experiment", "summary", "__version__"]


def run_experiment(experiment, jobs: int = 1, executor: str = "local", scheduler=None,
                   progress=None, check: bool = True):
    """Run one experiment (a config path or an `Experiment`): a Result(records, summary, meta),
    written only by `Result.save(results_dir)`. See fpstudy.pipeline.run_experiment."""
    from .pipeline import run_experiment as _run
    return _run(experiment, jobs=jobs, executor=executor, scheduler=scheduler,
                progress=progress, check=check)


def load(path):
    """The records of one experiment (results/<name>/ or a file in it) as a pandas DataFrame."""
    from .results import load as _load
    return _load(path)


def summary(path):
    """The summary table (outcome runs along the sweep axis) of one experiment."""
    from .results import summary as _summary
    return _summary(path)


def __getattr__(name):
    if name == "Result":  # without importing pandas at `import fpstudy`
        from .pipeline import Result
        return Result
    raise AttributeError(f"module 'fpstudy' has no attribute {name!r}")
