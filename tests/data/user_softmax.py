"""User softmax implementations for the softmax case's tests, named "user_softmax:<name>"."""

import numpy as np


def shifted(x):
    """The max-shifted softmax written with plain numpy in x's own dtype."""
    e = np.exp(x - x.max())
    return e / e.sum()


def raises(x):
    raise RuntimeError("deliberate failure")


def wrong_shape(x):
    return shifted(x)[:-1]


def wrong_dtype(x):
    return shifted(x.astype(np.float64))


def not_an_array(x):
    return list(shifted(x))


NOT_CALLABLE = 3
