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


def returns_nan(x):
    return np.full_like(x, np.nan)


def hangs(x):
    """Does not return for a minute (a test's --point-timeout stops it long before; if the
    timeout is broken, the test fails instead of hanging)."""
    import time
    end = time.monotonic() + 60
    while time.monotonic() < end:
        time.sleep(0.05)
    return shifted(x)


def chatty(x):
    print("hello from chatty")
    print("second line")
    return shifted(x)


def catches_everything(x):
    """Hangs, and swallows every Exception on the way (the timeout must still stop it)."""
    import time
    end = time.monotonic() + 60
    while time.monotonic() < end:
        try:
            time.sleep(0.05)
        except Exception:
            pass
    return shifted(x)


def exits(x):
    raise SystemExit(3)


def signal_then_wait(x):
    """Create the file named by $FPSTUDY_TEST_STARTED, then wait (for the Ctrl-C test)."""
    import os
    import pathlib
    import time
    pathlib.Path(os.environ["FPSTUDY_TEST_STARTED"]).touch()
    end = time.monotonic() + 60
    while time.monotonic() < end:
        time.sleep(0.05)
    return shifted(x)
