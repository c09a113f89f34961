"""The one family of user-facing errors, caught once in fpstudy.cli.main (exit status 2)."""


def one_line(text: str) -> str:
    """text with every non-printable character (a newline in a key, a NUL, an escape
    sequence) written as its Python escape, so that an error message stays one line."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class UserError(Exception):
    """Bad input from the user: printed as one line, exit status 2, no traceback."""


class ConfigError(UserError):
    """A config value that is not allowed: names the file, the key and what is allowed."""

    def __init__(self, path, key: str, message: str):
        self.path, self.key, self.message = path, key, message
        where = f"{path}: " if path else ""
        super().__init__(f"{where}{key}: {message}" if key else f"{where}{message}")


class ParamError(UserError):
    """A case parameter value that is not allowed; the config loader adds file and key."""

    def __init__(self, key: str, message: str):
        self.key, self.message = key, message
        super().__init__(f"{key}: {message}")


class ResultsError(UserError):
    """The results could not be written (not a directory, no permission, disk full): one
    line naming the path, exit status 2; the earlier results are kept."""


class PointTimeout(BaseException):
    """A grid point ran past --point-timeout (raised by SIGALRM in fpstudy.runner). A
    BaseException, so that a user's function that catches Exception cannot swallow it."""

    def __init__(self, seconds: float):
        super().__init__(f"took more than {seconds:g} s")
        self.seconds = seconds

    def __reduce__(self):
        return PointTimeout, (self.seconds,)
