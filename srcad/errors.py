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


class InlinedLine(int):
    """The line number of a statement inlined from a helper: as an int, the line of the call in the
    function being transformed (what the generated code's ``# line`` notes and every pass use);
    it also carries where the statement is in the helper (``helper``: its FunctionInfo, ``line``)
    and the line of the call (``caller``: an int, or an InlinedLine where that call was itself
    inlined), so that an error names the helper's line first and then the chain of calls."""

    def __new__(cls, at_call, helper, line, caller):
        self = super().__new__(cls, int(at_call))
        self.helper, self.line, self.caller = helper, line, caller
        return self

    def __reduce__(self):   # copy.deepcopy of the tree keeps the origin
        return InlinedLine, (int(self), self.helper, self.line, self.caller)


def fail_at(info, lineno, message, construct):
    """Raise a TransformError at ``lineno`` of the function ``info``, quoting the user's line.

    Inside an inlined helper, the error is at the helper's line, followed by the calls that led
    there, innermost first (``in helper at file:line `text`, called from file:line `text```)."""
    if isinstance(lineno, InlinedLine):
        inner = lineno.helper
        text = inner.line_text(lineno.line)
        chain = []
        site, callee = lineno.caller, inner.name
        while site is not None:
            where = site.helper if isinstance(site, InlinedLine) else info
            line = site.line if isinstance(site, InlinedLine) else int(site)
            quoted = where.line_text(line)
            place = f"line {line}" if where.filename == inner.filename else f"{where.filename}:{line}"
            chain.append(f"{callee} is called at {place}" + (f" `{quoted}`" if quoted else ""))
            callee = where.name
            site = site.caller if isinstance(site, InlinedLine) else None
        raise TransformError(message + (f": `{text}`" if text else "") + " (" + "; ".join(chain) + ")",
                             inner.filename, lineno.line, construct)
    text = info.line_text(lineno)
    raise TransformError(message + (f": `{text}`" if text else ""), info.filename, lineno, construct)


def article(noun):
    """``a try statement``, ``an in-place update``."""
    return ("an " if noun[:1].lower() in "aeiou" else "a ") + noun
