"""The one error srcad raises for code it cannot differentiate."""


class TransformError(Exception):
    """A function, or a construct inside it, cannot be differentiated.

    ``filename`` and ``lineno`` point at the user's code; ``construct`` names what was refused.
    """

    def __init__(self, message, filename=None, lineno=None, construct=None):
        self.filename = filename
        self.lineno = lineno
        self.construct = construct
        self.reason = message
        where = ""
        if filename is not None:
            where = f"{filename}:{lineno}: " if lineno is not None else f"{filename}: "
        super().__init__(where + message)


def fail_at(info, lineno, message, construct):
    """Raise a TransformError at ``lineno`` of the function ``info``, quoting the user's line."""
    text = info.line_text(lineno)
    raise TransformError(message + (f": `{text}`" if text else ""), info.filename, lineno, construct)


def article(noun):
    """``a try statement``, ``an in-place update``."""
    return ("an " if noun[:1].lower() in "aeiou" else "a ") + noun
