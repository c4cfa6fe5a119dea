"""The one error srcad raises for code it cannot differentiate."""

import linecache
import re

_GENERATED = r"^<srcad (\S+) of (.*):(\d+) #\d+>$"    # (strings: an exported module copies these)
_LINE_NOTE = r"#\s*line (\d+)\s*$"


def user_place(filename, lineno):
    """(file, line, label) of the user's line behind line ``lineno`` of the source of a derivative
    srcad generated (``<srcad grad_f of file.py:3 #1>``; linecache holds it one line down, under
    the factory's ``def``): the ``# line N`` note that line falls under, followed through
    derivatives of derivatives; None for any other file."""
    m = re.match(_GENERATED, filename or "")
    if m is None or lineno is None:
        return None
    line = int(m.group(3))
    for prev in reversed(linecache.getlines(filename)[:lineno + 1]):
        note = re.search(_LINE_NOTE, prev)
        if note:
            line = int(note.group(1))
            break
    return user_place(m.group(2), line) or (m.group(2), line, m.group(1))


class TransformError(Exception):
    """A function, or a construct inside it, cannot be differentiated.

    ``filename`` and ``lineno`` point at the user's code; ``construct`` names what was refused.
    """

    def __init__(self, message, filename=None, lineno=None, construct=None):
        self.filename = filename
        self.lineno = lineno
        self.construct = construct
        self.reason = message
        place = user_place(filename, lineno)
        if place is not None:     # a derivative of srcad's own derivative: name the user's line
            filename, lineno, label = place
            self.filename, self.lineno = filename, lineno
            message += f" (in {label}, srcad's derivative of this line, differentiated again)"
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

    def __deepcopy__(self, memo):   # immutable: shared, not copied (its helper holds modules)
        return self

    def __copy__(self):
        return self


def _chain(info, site, callee, inner_filename):
    """``callee is called at line N `text`; ...``: the calls that led to ``callee``, innermost
    first, from the call ``site`` (an int line of ``info``'s function, or an InlinedLine)."""
    chain = []
    while site is not None:
        where = site.helper if isinstance(site, InlinedLine) else info
        line = site.line if isinstance(site, InlinedLine) else int(site)
        quoted = where.line_text(line)
        place = f"line {line}" if where.filename == inner_filename else f"{where.filename}:{line}"
        chain.append(f"{callee} is called at {place}" + (f" `{quoted}`" if quoted else ""))
        callee = where.name
        site = site.caller if isinstance(site, InlinedLine) else None
    return chain


def library_source(filename):
    """Is ``filename`` a library's source (the standard library, an installed package) rather than
    the user's own code?"""
    import os
    import sysconfig
    if not filename:
        return False
    path = os.path.realpath(filename)
    roots = {sysconfig.get_paths()[k] for k in ("stdlib", "purelib", "platlib")}
    return "site-packages" in path.split(os.sep) or "dist-packages" in path.split(os.sep) or any(
        path.startswith(os.path.realpath(r) + os.sep) for r in roots if r)


def called_from(err, info, lineno, callee):
    """The TransformError ``err``, raised while deriving ``callee`` on its own (a call srcad keeps),
    extended with the calls that led there from ``info``'s function (its line ``lineno``), and,
    where the refusal is in a library's source, the way out: a rule for the call the user made."""
    name = getattr(callee, "__name__", "helper")
    chain = _chain(info, lineno, name, err.filename)
    # the user's innermost call: the last call made from a file that is not a library's
    hint = ""
    if library_source(err.filename):
        outer = callee
        site = lineno
        while isinstance(site, InlinedLine) and library_source(site.helper.filename):
            outer, site = site.helper.fn, site.caller
        label = f"{getattr(outer, '__module__', '')}.{getattr(outer, '__qualname__', name)}".lstrip(".")
        hint = (f"; srcad reads {label}'s source, which is a library's: give it a derivative with "
                f"@srcad.defvjp (see docs/rules.md)")
    message = err.reason + " (" + "; ".join(chain) + ")" + hint
    new = TransformError(message, err.filename, err.lineno, err.construct)
    new.chain = chain
    return new


def fail_at(info, lineno, message, construct):
    """Raise a TransformError at ``lineno`` of the function ``info``, quoting the user's line.

    Inside an inlined helper, the error is at the helper's line, followed by the calls that led
    there, innermost first (``in helper at file:line `text`, called from file:line `text```)."""
    if isinstance(lineno, InlinedLine):
        inner = lineno.helper
        text = inner.line_text(lineno.line)
        chain = _chain(info, lineno.caller, inner.name, inner.filename)
        raise TransformError(message + (f": `{text}`" if text else "") + " (" + "; ".join(chain) + ")",
                             inner.filename, lineno.line, construct)
    text = info.line_text(lineno)
    raise TransformError(message + (f": `{text}`" if text else ""), info.filename, lineno, construct)


def article(noun):
    """``a try statement``, ``an in-place update``."""
    return ("an " if noun[:1].lower() in "aeiou" else "a ") + noun
