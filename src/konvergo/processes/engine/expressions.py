"""The safe expression language of process models: conditions, scripts, timers and DMN cells.

Process designers are not administrators, so nothing they write ever runs as Python. Their text is
parsed with :mod:`ast` for its structure only, checked against a small grammar, and evaluated node
by node by simpleeval's ``EvalWithCompoundTypes``, configured tightly:

- names read process variables; ``client.tier`` reads the key ``"tier"`` of a dictionary and never
  a Python attribute; names and keys starting with ``_`` are refused;
- only the functions in :data:`FUNCTION_NAMES` can be called, and no methods;
- every value an expression builds is measured (elements, characters, nesting, digits) with the
  measurements of shared parts remembered, so no expression can build a value big enough to
  exhaust memory or time - plain simpleeval re-walks shared lists and takes exponential time on
  ``[[[1]*2]*2]...``;
- scripts are assignments and ``if``/``elif``/``else`` only. Without loops, function definitions or
  lambdas no text can run forever; comprehensions are bounded by simpleeval's element count, and
  every evaluation and script run by a step budget (:data:`MAX_STEPS`), since simpleeval has no
  time limit of its own.

Camunda Modeler's JUEL forms (``${amount > 1000 && tier == 'gold'}``) are translated first, see
:func:`normalize`. The designers' manual is ``docs/expressions.md``.
"""

from __future__ import annotations

import ast
import functools
import math
import re
import threading
from collections import ChainMap
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, DecimalException, InvalidOperation
from decimal import Overflow as DecimalOverflow
from itertools import chain
from types import MappingProxyType, ModuleType
from typing import Any, Final, NoReturn

import simpleeval  # type: ignore[import-untyped, unused-ignore]

__all__ = [
    "FUNCTION_NAMES",
    "MAX_ELEMENTS",
    "MAX_EXPRESSION_LENGTH",
    "MAX_INT_BITS",
    "MAX_NESTING",
    "MAX_SCRIPT_LENGTH",
    "MAX_SCRIPT_WRITES",
    "MAX_STEPS",
    "MAX_TEXT_LENGTH",
    "MAX_VALUE_DEPTH",
    "MAX_VALUE_SIZE",
    "RESERVED_WORDS",
    "ExpressionError",
    "ExpressionSyntaxError",
    "evaluate",
    "evaluate_condition",
    "format_iso_duration",
    "normalize",
    "parse_iso_duration",
    "run_script",
    "to_json_value",
    "validate_expression",
    "validate_script",
]

# --- limits ------------------------------------------------------------------------------------

MAX_EXPRESSION_LENGTH: Final = 10_000
"""Characters in one expression (conditions, timers, DMN cells)."""
MAX_SCRIPT_LENGTH: Final = 50_000
"""Characters in one script."""
MAX_NESTING: Final = 100
"""Depth of the syntax tree of one expression, and of nested ``if`` blocks in a script."""
MAX_TEXT_LENGTH: Final[int] = simpleeval.MAX_STRING_LENGTH
"""Length of a text or list built by ``+`` or ``*``, and of a text literal (100,000)."""
MAX_ELEMENTS: Final[int] = simpleeval.MAX_COMPREHENSION_LENGTH
"""Elements that the comprehensions of one expression may produce (10,000)."""
MAX_VALUE_SIZE: Final = 1_000_000
"""Elements plus characters of one value built by an expression, or stored by a script."""
MAX_SCRIPT_WRITES: Final = 5 * MAX_VALUE_SIZE
"""Elements plus characters that one script run may store in total."""
MAX_STEPS: Final = 2_000_000
"""Steps of one evaluation or one script run: syntax nodes evaluated, elements measured, copied
or compared. Without loops this bounds the time any text can take (a second or two)."""
MAX_VALUE_DEPTH: Final = 32
"""Nesting of lists and dictionaries in a value built by an expression or stored by a script."""
MAX_INT_BITS: Final = 4_000
"""Size of an integer (about 1,200 decimal digits)."""
MAX_ROUND_DIGITS: Final = 100

# --- errors ------------------------------------------------------------------------------------


class ExpressionError(Exception):
    """An expression or script does not parse, was refused, or failed while it was evaluated.

    `message` is a sentence for the process designer ("name 'amount' is not defined"),
    `expression` the text concerned (for scripts: the offending line), `line` the 1-based line of
    a script (None for expressions). The engine adds the element id when it turns the error into
    an incident or refuses a deployment.
    """

    def __init__(self, message: str, *, expression: str = "", line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.expression = expression
        self.line = line

    def __str__(self) -> str:
        return self.message if self.line is None else f"line {self.line}: {self.message}"

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.message,), {"expression": self.expression, "line": self.line})


class ExpressionSyntaxError(ExpressionError, SyntaxError):
    """The text is not even well-formed. Also a SyntaxError, as SpiffWorkflow's DMN engine expects
    from `validate` when it probes whether a rule cell is a value (``"gold"``) or an unary test
    (``> 1000``)."""


def _fail(message: str) -> NoReturn:
    raise ExpressionError(message)


def _locate(error: ExpressionError, expression: str, line: int | None = None) -> ExpressionError:
    """Fill in where an error happened, unless a deeper level already did."""
    if not error.expression:
        error.expression = expression
    if error.line is None:
        error.line = line
    return error


def _describe(exc: BaseException) -> str:
    """A designer's sentence for an exception raised while evaluating."""
    if isinstance(exc, simpleeval.IterableTooLong):
        return f"too many elements: comprehensions may produce {MAX_ELEMENTS:,} per expression"
    if isinstance(exc, simpleeval.NumberTooHigh):
        return "number too large"
    if isinstance(exc, ZeroDivisionError):
        return "division by zero"
    if isinstance(exc, OverflowError | DecimalOverflow):
        return "number too large"
    if isinstance(exc, DecimalException):
        return "invalid decimal operation"
    if isinstance(exc, RecursionError):
        return "the expression is nested too deeply"
    if isinstance(exc, MemoryError):
        return "out of memory"
    return str(exc) or type(exc).__name__


class _Steps:
    """The step budget of one evaluation or script run."""

    __slots__ = ("used",)

    def __init__(self) -> None:
        self.used = 0

    def charge(self, count: int) -> None:
        self.used += count
        if self.used > MAX_STEPS:
            _fail(
                f"too much work: more than {MAX_STEPS:,} steps; simplify the expression or "
                "reduce the data it works on"
            )


def _source(node: ast.AST) -> str:
    text = ast.unparse(node)
    return text if len(text) <= 60 else text[:57] + "..."


def _kind(value: object) -> str:
    """What a value is, in a designer's words."""
    if value is None:
        return "None"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float | Decimal):
        return "a number"
    if isinstance(value, str):
        return "a text"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, Mapping):
        return "a dictionary"
    if isinstance(value, datetime):
        return "a date-time"
    if isinstance(value, date):
        return "a date"
    if isinstance(value, timedelta):
        return "a duration"
    return f"a {type(value).__name__}"


# --- ISO 8601 durations ------------------------------------------------------------------------

_NUMBER = r"\d+(?:[.,]\d+)?"
_DURATION = re.compile(
    rf"(?P<sign>[-+])?P(?:(?P<years>{_NUMBER})Y)?(?:(?P<months>{_NUMBER})M)?"
    rf"(?:(?P<weeks>{_NUMBER})W)?(?:(?P<days>{_NUMBER})D)?"
    rf"(?:T(?:(?P<hours>{_NUMBER})H)?(?:(?P<minutes>{_NUMBER})M)?(?:(?P<seconds>{_NUMBER})S)?)?",
    re.IGNORECASE,
)
_DURATION_SECONDS: Final = {
    "years": 365 * 86_400,
    "months": 30 * 86_400,
    "weeks": 7 * 86_400,
    "days": 86_400,
    "hours": 3_600,
    "minutes": 60,
    "seconds": 1,
}


def parse_iso_duration(text: str) -> timedelta:
    """An ISO 8601 duration, ``PnYnMnWnDTnHnMnS``, as a timedelta.

    A year counts 365 days and a month 30 days (a duration has no calendar to be read against).
    Fractions (``PT1.5H``, ``PT0,5S``) and a leading sign (``-P1D``) are accepted; the designators
    may be written in lower case.
    """
    candidate = text.strip()
    match = _DURATION.fullmatch(candidate) if len(candidate) <= 100 else None
    if (
        match is None
        or candidate.upper().endswith("T")
        or not any(match.group(unit) for unit in _DURATION_SECONDS)
    ):
        raise ExpressionError(
            f"'{text}' is not an ISO 8601 duration like 'PT2H', 'P3D' or 'P1Y2M10DT2H30M'",
            expression=text,
        )
    seconds = sum(
        (
            Decimal(value.replace(",", ".")) * factor
            for unit, factor in _DURATION_SECONDS.items()
            if (value := match.group(unit))
        ),
        Decimal(0),
    )
    microseconds = int((seconds * 1_000_000).to_integral_value())
    try:
        result = timedelta(microseconds=microseconds)
    except OverflowError:
        raise ExpressionError(f"duration '{text}' is too long", expression=text) from None
    return -result if match.group("sign") == "-" else result


def format_iso_duration(value: timedelta) -> str:
    """A timedelta as an ISO 8601 duration in days, hours, minutes and seconds (``P1DT2H``)."""
    if not value:
        return "PT0S"
    sign = "-" if value < timedelta(0) else ""
    value = abs(value)
    hours, rest = divmod(value.seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    clock = ""
    if hours:
        clock += f"{hours}H"
    if minutes:
        clock += f"{minutes}M"
    if value.microseconds:
        clock += f"{seconds}.{value.microseconds:06d}".rstrip("0") + "S"
    elif seconds:
        clock += f"{seconds}S"
    days = f"{value.days}D" if value.days else ""
    return f"{sign}P{days}" + (f"T{clock}" if clock else "")


# --- JSON values -------------------------------------------------------------------------------


def _check_int(value: int) -> None:
    if value.bit_length() > MAX_INT_BITS:
        _fail("number too large")


class _JsonConverter:
    """Copies a value into JSON form, counting elements and characters against a budget.

    With `native`, the copy is checked the same way but keeps decimals, dates, date-times and
    durations as they are: what a script holds between its lines.
    """

    def __init__(self, budget: int, steps: _Steps | None = None, *, native: bool = False) -> None:
        self.budget = budget
        self.size = 0
        self.steps = steps or _Steps()
        self.native = native

    def _count(self, units: int) -> None:
        self.size += units
        if self.size > self.budget:
            _fail(f"value too large: at most {self.budget:,} elements and characters")

    def convert(self, value: Any, depth: int = 0) -> Any:
        self._count(1)
        self.steps.charge(1)
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, int):
            _check_int(value)
            return int(value)
        if isinstance(value, float):
            if not math.isfinite(value):
                _fail(f"{value} cannot be stored: numbers must be finite")
            return value
        if isinstance(value, str):
            self._count(len(value))
            return str(value)
        if isinstance(value, Decimal):
            if not value.is_finite():
                _fail(f"{value} cannot be stored: numbers must be finite")
            return value if self.native else str(value)
        if isinstance(value, datetime | date):
            return value if self.native else value.isoformat()
        if isinstance(value, timedelta):
            return value if self.native else format_iso_duration(value)
        if isinstance(value, list | tuple | Mapping):
            if depth >= MAX_VALUE_DEPTH:
                _fail(f"value nested too deeply: at most {MAX_VALUE_DEPTH} levels")
            if not isinstance(value, Mapping):
                return [self.convert(item, depth + 1) for item in value]
            result: dict[str, Any] = {}
            for key, item in value.items():
                if not isinstance(key, str):
                    _fail(f"dictionary keys must be texts, not {_kind(key)} ({key!r})")
                self._count(len(key))
                result[key] = self.convert(item, depth + 1)
            return result
        _fail(
            f"{_kind(value)} cannot be stored: process variables hold texts, numbers, "
            "true/false, None, lists and dictionaries"
        )


def to_json_value(value: Any) -> Any:
    """A copy of `value` that JSON can store, as scripts store assigned values.

    Decimals become texts (``"12.50"``), dates and date-times ISO 8601 texts, durations ISO 8601
    durations (``"PT2H"``), tuples lists. Raises ExpressionError for anything else (functions,
    sets, NaN, non-text dictionary keys) and for values past :data:`MAX_VALUE_SIZE` or
    :data:`MAX_VALUE_DEPTH`.
    """
    return _JsonConverter(MAX_VALUE_SIZE).convert(value)


# --- functions ---------------------------------------------------------------------------------


def _as_text(value: Any) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return format_iso_duration(value)
    return str(value)


def _require_text(function: str, value: Any) -> str:
    if not isinstance(value, str):
        _fail(f"{function}() needs a text, got {_kind(value)}")
    return value


def _lower(value: Any) -> str:
    return _require_text("lower", value).lower()


def _upper(value: Any) -> str:
    return _require_text("upper", value).upper()


def _contains(container: Any, item: Any) -> bool:
    if container is None:
        return False
    if isinstance(container, str):
        return _require_text("contains", item) in container
    if isinstance(container, list | tuple | Mapping):
        return item in container
    _fail(f"contains() needs a text, list or dictionary, got {_kind(container)}")


def _empty(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str | list | tuple | Mapping):
        return len(value) == 0
    return False


def _get(container: Any, key: Any, default: Any = None) -> Any:
    if container is None:
        return default
    if isinstance(container, Mapping):
        return container.get(key, default)
    if isinstance(container, list | tuple) and isinstance(key, int):
        return container[key] if -len(container) <= key < len(container) else default
    _fail(f"get() reads a dictionary or a list, got {_kind(container)}")


def _int(value: Any, base: Any = None) -> int:
    if isinstance(value, str):
        if len(value) > 1_000:
            _fail("int(): the text is too long for a number")
        return int(value, 10 if base is None else base)
    if base is not None:
        _fail("int() takes a base only with a text")
    return int(value)


def _round(value: Any, ndigits: Any = None) -> Any:
    if ndigits is None:
        return round(value)
    if not isinstance(ndigits, int) or abs(ndigits) > MAX_ROUND_DIGITS:
        _fail(f"round() takes between -{MAX_ROUND_DIGITS} and {MAX_ROUND_DIGITS} digits")
    return round(value, ndigits)


_SUMMABLE: Final = (int, float, Decimal, timedelta)


def _sum(values: Iterable[Any], start: Any = 0) -> Any:
    items = list(values)
    for item in (start, *items):
        if not isinstance(item, _SUMMABLE):
            _fail(f"sum() adds numbers or durations, got {_kind(item)}")
    if items and isinstance(items[0], timedelta) and start == 0:
        start = timedelta(0)
    return sum(items, start)


def _sorted(values: Iterable[Any], *, reverse: Any = False) -> list[Any]:
    return sorted(values, reverse=bool(reverse))


def _now() -> datetime:
    return datetime.now(tz=UTC)


def _today() -> date:
    return _now().date()


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _datetime(*parts: Any) -> datetime:
    if len(parts) == 1:
        value = parts[0]
        if isinstance(value, datetime):
            return _aware(value)
        if isinstance(value, date):
            return datetime.combine(value, time(), tzinfo=UTC)
        if isinstance(value, str):
            try:
                return _aware(datetime.fromisoformat(value.strip()))
            except ValueError:
                _fail(f"datetime(): '{value}' is not a date-time like '2026-01-31T09:30:00Z'")
    if 3 <= len(parts) <= 6 and all(type(part) is int for part in parts):
        year, month, day, hour, minute, second = (*parts, 0, 0, 0)[:6]
        return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    _fail("datetime() takes a text like '2026-01-31T09:30:00Z' or year, month, day[, h, m, s]")


def _date(*parts: Any) -> date:
    if len(parts) == 1:
        value = parts[0]
        if isinstance(value, datetime):
            return _aware(value).astimezone(UTC).date()
        if isinstance(value, date):
            return value
        if isinstance(value, str):
            try:
                return date.fromisoformat(value.strip())
            except ValueError:
                pass
            try:
                return _aware(datetime.fromisoformat(value.strip())).astimezone(UTC).date()
            except ValueError:
                _fail(f"date(): '{value}' is not a date like '2026-01-31'")
    if len(parts) == 3 and all(type(part) is int for part in parts):
        return date(*parts)
    _fail("date() takes a text like '2026-01-31' or year, month, day")


def _duration(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        return value
    return parse_iso_duration(_require_text("duration", value))


def _decimal(value: Any) -> Decimal:
    if isinstance(value, bool):
        _fail("Decimal() takes a text or a number, got true/false")
    if isinstance(value, Decimal | int):
        result = Decimal(value)
    elif isinstance(value, float):
        result = Decimal(repr(value))
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation:
            _fail(f"Decimal(): '{value}' is not a decimal number like '12.50'")
    else:
        _fail(f"Decimal() takes a text or a number, got {_kind(value)}")
    if not result.is_finite():
        _fail(f"Decimal(): '{value}' is not a finite number")
    return result


_FUNCTIONS: Final[Mapping[str, Callable[..., Any]]] = MappingProxyType(
    {
        "len": len,
        "min": min,
        "max": max,
        "abs": abs,
        "round": _round,
        "int": _int,
        "float": float,
        "str": _as_text,
        "bool": bool,
        "sum": _sum,
        "sorted": _sorted,
        "any": any,
        "all": all,
        "lower": _lower,
        "upper": _upper,
        "contains": _contains,
        "empty": _empty,
        "get": _get,
        "now": _now,
        "today": _today,
        "date": _date,
        "datetime": _datetime,
        "duration": _duration,
        "Decimal": _decimal,
    }
)
FUNCTION_NAMES: Final = frozenset(_FUNCTIONS)
"""The functions an expression may call; nothing else can be called."""
# Functions whose time grows with their arguments: a call is charged their size in steps.
_WALKING_FUNCTIONS: Final = frozenset(
    {"min", "max", "sum", "sorted", "any", "all", "contains", "str"}
)

# --- operators ---------------------------------------------------------------------------------

_SEQUENCES: Final = (str, list, tuple)


def _add(left: Any, right: Any) -> Any:
    if (
        isinstance(left, _SEQUENCES)
        and isinstance(right, _SEQUENCES)
        and len(left) + len(right) > MAX_TEXT_LENGTH
    ):
        _fail(f"result too long: at most {MAX_TEXT_LENGTH:,} characters or elements")
    return left + right


def _multiply(left: Any, right: Any) -> Any:
    for sequence, count in ((left, right), (right, left)):
        if (
            isinstance(sequence, _SEQUENCES)
            and isinstance(count, int)
            and count * len(sequence) > MAX_TEXT_LENGTH
        ):
            _fail(f"result too long: at most {MAX_TEXT_LENGTH:,} characters or elements")
    if (
        isinstance(left, int)
        and isinstance(right, int)
        and left.bit_length() + right.bit_length() > MAX_INT_BITS + 1
    ):
        _fail("number too large")
    return left * right


def _power(base: Any, exponent: Any) -> Any:
    if (
        isinstance(base, int)
        and isinstance(exponent, int)
        and (base.bit_length() - 1) * exponent > MAX_INT_BITS
    ):
        _fail("exponent too large")
    if isinstance(exponent, int | Decimal) and abs(exponent) > simpleeval.MAX_POWER:
        _fail("exponent too large")
    return base**exponent


_TEXT_FORMATTING: Final = "'%' formatting of texts is not allowed; build texts with + and str()"


def _modulo(left: Any, right: Any) -> Any:
    if isinstance(left, str | bytes):
        _fail(_TEXT_FORMATTING)
    return left % right


def _subtract(left: Any, right: Any) -> Any:
    return left - right


def _divide(left: Any, right: Any) -> Any:
    return left / right


def _floor_divide(left: Any, right: Any) -> Any:
    return left // right


_BINARY_OPERATORS: Final[Mapping[type[ast.operator], Callable[[Any, Any], Any]]] = MappingProxyType(
    {
        ast.Add: _add,
        ast.Sub: _subtract,
        ast.Mult: _multiply,
        ast.Div: _divide,
        ast.FloorDiv: _floor_divide,
        ast.Mod: _modulo,
        ast.Pow: _power,
    }
)
_OPERATORS: Final[Mapping[type[ast.AST], Callable[..., Any]]] = MappingProxyType(
    {
        **{kind: function for kind, function in _BINARY_OPERATORS.items()},
        ast.Not: lambda operand: not operand,
        ast.USub: lambda operand: -operand,
        ast.UAdd: lambda operand: +operand,
        ast.Eq: lambda left, right: left == right,
        ast.NotEq: lambda left, right: left != right,
        ast.Lt: lambda left, right: left < right,
        ast.LtE: lambda left, right: left <= right,
        ast.Gt: lambda left, right: left > right,
        ast.GtE: lambda left, right: left >= right,
        ast.In: lambda left, right: left in right,
        ast.NotIn: lambda left, right: left not in right,
        ast.Is: lambda left, right: left is right,
        ast.IsNot: lambda left, right: left is not right,
    }
)
_OPERATOR_SYMBOLS: Final = {
    ast.BitAnd: "&",
    ast.BitOr: "|",
    ast.BitXor: "^",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.MatMult: "@",
    ast.Invert: "~",
}

# --- static checks -----------------------------------------------------------------------------

_STRUCTURE_NODES: Final = frozenset(
    {
        ast.Constant,
        ast.Name,
        ast.Attribute,
        ast.Subscript,
        ast.Slice,
        ast.UnaryOp,
        ast.BinOp,
        ast.BoolOp,
        ast.Compare,
        ast.IfExp,
        ast.Call,
        ast.keyword,
        ast.List,
        ast.Tuple,
        ast.Dict,
        ast.ListComp,
        ast.GeneratorExp,
        ast.DictComp,
        ast.comprehension,
    }
)
_LEAF_NODES: Final = (ast.expr_context, ast.boolop, ast.cmpop, ast.operator, ast.unaryop)
_REFUSED_EXPRESSIONS: Final = {
    "Lambda": "lambda functions are not allowed",
    "NamedExpr": "':=' is not allowed",
    "JoinedStr": "f-strings are not allowed; build texts with + and str()",
    "FormattedValue": "f-strings are not allowed; build texts with + and str()",
    "Set": "sets are not supported; use a list [...]",
    "SetComp": "sets are not supported; use a list [...]",
    "Starred": "'*' unpacking is not allowed",
    "Await": "'await' is not allowed",
    "Yield": "'yield' is not allowed",
    "YieldFrom": "'yield' is not allowed",
}
_REFUSED_STATEMENTS: Final = {
    "For": "'for' loops are not allowed",
    "AsyncFor": "'for' loops are not allowed",
    "While": "'while' loops are not allowed",
    "FunctionDef": "function definitions are not allowed",
    "AsyncFunctionDef": "function definitions are not allowed",
    "ClassDef": "class definitions are not allowed",
    "Return": "'return' is not allowed",
    "Delete": "'del' is not allowed",
    "Import": "'import' is not allowed",
    "ImportFrom": "'import' is not allowed",
    "Global": "'global' is not allowed",
    "Nonlocal": "'nonlocal' is not allowed",
    "With": "'with' is not allowed",
    "AsyncWith": "'with' is not allowed",
    "Try": "'try' is not allowed",
    "TryStar": "'try' is not allowed",
    "Raise": "'raise' is not allowed",
    "Assert": "'assert' is not allowed",
    "Break": "'break' is not allowed",
    "Continue": "'continue' is not allowed",
    "Match": "'match' is not allowed",
    "AnnAssign": "type annotations are not allowed",
    "TypeAlias": "'type' statements are not allowed",
    "Expr": (
        "this line computes a value without storing it; a script line is 'name = expression', "
        "'name += expression' or part of an if/elif/else block"
    ),
}


def _reserved(name: str) -> str:
    return f"'{name}' is not allowed: names starting with '_' are reserved"


def _check_call(node: ast.Call) -> None:
    function = node.func
    if isinstance(function, ast.Attribute):
        if function.attr.startswith("_"):
            _fail(_reserved(function.attr))
        _fail(
            f"method calls like '.{function.attr}(...)' are not allowed; "
            "use the functions, e.g. lower(x) instead of x.lower()"
        )
    if isinstance(function, ast.Lambda):
        _fail(_REFUSED_EXPRESSIONS["Lambda"])
    if not isinstance(function, ast.Name):
        _fail(f"only the listed functions can be called, not '{_source(function)}'")
    if function.id not in _FUNCTIONS:
        _fail(f"function '{function.id}' is not allowed")
    if any(keyword.arg is None for keyword in node.keywords):
        _fail("'**' unpacking is not allowed")


def _check_constant(node: ast.Constant) -> None:
    value = node.value
    if isinstance(value, str):
        if len(value) > MAX_TEXT_LENGTH:
            _fail(f"text too long: at most {MAX_TEXT_LENGTH:,} characters")
    elif isinstance(value, int) and not isinstance(value, bool):
        _check_int(value)
    elif not (value is None or isinstance(value, bool | float)):
        _fail(f"{type(value).__name__} literals are not allowed")


def _check_expression(root: ast.AST) -> None:
    """Refuse, before anything runs, every construct outside the grammar."""
    stack: list[tuple[ast.AST, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, _LEAF_NODES):
            continue
        if depth > MAX_NESTING:
            _fail("the expression is nested too deeply")
        kind = type(node)
        if kind not in _STRUCTURE_NODES:
            _fail(_REFUSED_EXPRESSIONS.get(kind.__name__, f"{kind.__name__} is not allowed"))
        if isinstance(node, ast.Name) and node.id.startswith("_"):
            _fail(_reserved(node.id))
        elif isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            _fail(_reserved(node.attr))
        elif isinstance(node, ast.Call):
            _check_call(node)
        elif isinstance(node, ast.Constant):
            _check_constant(node)
        elif isinstance(node, ast.BinOp | ast.UnaryOp) and type(node.op) not in _OPERATORS:
            symbol = _OPERATOR_SYMBOLS.get(type(node.op), type(node.op).__name__)
            _fail(f"operator '{symbol}' is not allowed")
        elif (
            isinstance(node, ast.BinOp)
            and isinstance(node.op, ast.Mod)
            and isinstance(node.left, ast.Constant)
            and isinstance(node.left.value, str)
        ):
            _fail(_TEXT_FORMATTING)
        elif isinstance(node, ast.Dict) and any(key is None for key in node.keys):
            _fail("'**' unpacking is not allowed")
        elif isinstance(node, ast.comprehension):
            if node.is_async:
                _fail("'async for' is not allowed")
            targets = node.target.elts if isinstance(node.target, ast.Tuple) else [node.target]
            if not all(isinstance(target, ast.Name) for target in targets):
                _fail("a comprehension must loop over plain names: [x for x in items]")
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))


def _check_target(target: ast.expr) -> None:
    """An assignment target: a name, or keys/indexes/dotted keys below a name."""
    node = target
    while isinstance(node, ast.Subscript | ast.Attribute):
        if isinstance(node, ast.Subscript):
            if isinstance(node.slice, ast.Slice):
                _fail("slices cannot be assigned")
            _check_expression(node.slice)
        elif node.attr.startswith("_"):
            _fail(_reserved(node.attr))
        node = node.value
    if isinstance(node, ast.Tuple | ast.List | ast.Starred):
        _fail("unpacking like 'a, b = ...' is not allowed; assign one name per line")
    if not isinstance(node, ast.Name):
        _fail(f"cannot assign to '{_source(target)}'")
    if node.id.startswith("_"):
        _fail(_reserved(node.id))


def _check_statements(statements: Sequence[ast.stmt], lines: Sequence[str], depth: int) -> None:
    for statement in statements:
        try:
            if depth > MAX_NESTING:
                _fail("if blocks are nested too deeply")
            if isinstance(statement, ast.Assign):
                for target in statement.targets:
                    _check_target(target)
                _check_expression(statement.value)
            elif isinstance(statement, ast.AugAssign):
                _check_target(statement.target)
                if type(statement.op) not in _BINARY_OPERATORS:
                    symbol = _OPERATOR_SYMBOLS.get(type(statement.op), "?")
                    _fail(f"operator '{symbol}=' is not allowed")
                _check_expression(statement.value)
            elif isinstance(statement, ast.If):
                _check_expression(statement.test)
                _check_statements(statement.body, lines, depth + 1)
                _check_statements(statement.orelse, lines, depth + 1)
            elif not isinstance(statement, ast.Pass):
                name = type(statement).__name__
                _fail(_REFUSED_STATEMENTS.get(name, f"'{name}' statements are not allowed"))
        except ExpressionError as error:
            raise _locate(error, _line(lines, statement.lineno), statement.lineno) from None


def _line(lines: Sequence[str], number: int | None) -> str:
    return lines[number - 1].strip() if number is not None and 0 < number <= len(lines) else ""


# --- JUEL and ${...} ---------------------------------------------------------------------------

_JUEL_WORDS: Final = MappingProxyType(
    {
        "eq": "==",
        "ne": "!=",
        "lt": "<",
        "gt": ">",
        "le": "<=",
        "ge": ">=",
        "div": "/",
        "mod": "%",
        "true": "True",
        "false": "False",
        "null": "None",
    }
)
RESERVED_WORDS: Final = frozenset({*_JUEL_WORDS, "empty"})
"""JUEL words that are operators or literals and so cannot name process variables."""
_NOT_OPERANDS: Final = frozenset(
    {"and", "or", "not", "in", "is", "if", "else", "for", *_JUEL_WORDS}
) - {"true", "false", "null"}
_CLOSERS: Final = {"(": ")", "[": "]", "{": "}"}


def _string_end(text: str, start: int) -> int:
    """The index after the string literal opening at `start` (or where it is cut off)."""
    quote = text[start]
    delimiter = quote * 3 if text.startswith(quote * 3, start) else quote
    index = start + len(delimiter)
    while index < len(text):
        char = text[index]
        if char == "\\":
            index += 2
            continue
        if text.startswith(delimiter, index):
            return index + len(delimiter)
        if char == "\n" and len(delimiter) == 1:
            return index
        index += 1
    return len(text)


def _group_end(text: str, start: int) -> int:
    """The index after the bracket closing the one at `start`, or -1 if it is never closed."""
    closers: list[str] = []
    index = start
    while index < len(text):
        char = text[index]
        if char in "'\"":
            index = _string_end(text, index)
            continue
        if char in _CLOSERS:
            closers.append(_CLOSERS[char])
        elif char in ")]}":
            if not closers or closers.pop() != char:
                return -1
            if not closers:
                return index + 1
        index += 1
    return -1


def _is_word_start(char: str) -> bool:
    return char.isalpha() or char == "_"


def _word_end(text: str, start: int, end: int) -> int:
    index = start
    while index < end and (text[index].isalnum() or text[index] == "_"):
        index += 1
    return index


def _number_end(text: str, start: int, end: int) -> int:
    hexadecimal = text.startswith(("0x", "0X"), start)
    index = start
    while index < end:
        char = text[index]
        exponent_sign = char in "+-" and not hexadecimal and text[index - 1] in "eE"
        if not (char.isalnum() or char in "._" or exponent_sign):
            break
        index += 1
    return index


def _skip_space(text: str, start: int, end: int) -> int:
    while start < end and text[start] in " \t\r\n\\":
        start += 1
    return start


class _Juel:
    """Translates JUEL operators and literals, outside string literals, into our language."""

    def __init__(self, text: str, *, script: bool) -> None:
        self.text = text
        self.script = script

    def translate(self, start: int = 0, end: int | None = None, depth: int = 0) -> str:
        if depth > MAX_NESTING:
            _fail("the expression is nested too deeply")
        text = self.text
        end = len(text) if end is None else end
        out: list[str] = []
        index = start
        while index < end:
            char = text[index]
            if char in "'\"":
                stop = min(_string_end(text, index), end)
                out.append(text[index:stop])
                index = stop
            elif char == "#":
                if not self.script or text.startswith("#{", index):
                    _fail("'#{...}' must enclose the whole expression; comments are for scripts")
                stop = text.find("\n", index, end)
                stop = end if stop < 0 else stop
                out.append(text[index:stop])
                index = stop
            elif char == "$":
                _fail("'${...}' must enclose the whole expression")
            elif char == "?":
                _fail("the conditional 'a ? b : c' is not supported; write 'b if a else c'")
            elif char == "\n" and not self.script:
                out.append(" ")
                index += 1
            elif text.startswith(("&&", "||"), index):
                left = "" if text[index - 1 : index].isspace() else " "
                right = "" if text[index + 2 : index + 3].isspace() else " "
                out.append(f"{left}{'and' if char == '&' else 'or'}{right}")
                index += 2
            elif char == "!" and not text.startswith("!=", index):
                stop = self._operand_end(index + 1, end)
                out.append(f"(not {self.translate(index + 1, stop, depth + 1).strip()})")
                index = stop
            elif char.isdigit() or (char == "." and text[index + 1 : index + 2].isdigit()):
                stop = _number_end(text, index, end)
                out.append(text[index:stop])
                index = stop
            elif _is_word_start(char):
                index = self._word(index, end, out, depth)
            else:
                out.append(char)
                index += 1
        return "".join(out)

    def _word(self, start: int, end: int, out: list[str], depth: int) -> int:
        text = self.text
        stop = _word_end(text, start, end)
        word = text[start:stop]
        before = start - 1
        while before >= 0 and text[before] in " \t":
            before -= 1
        if (before >= 0 and text[before] == ".") or word not in RESERVED_WORDS:
            out.append(word)
            return stop
        after = _skip_space(text, stop, end)
        if text.startswith("=", after) and not text.startswith("==", after):
            _fail(f"'{word}' is a reserved word (a JUEL operator); choose another name")
        if word != "empty":
            out.append(_JUEL_WORDS[word])
            return stop
        if not self._operand_starts(after, end):
            out.append(word)
            return stop
        operand_end = self._operand_end(stop, end)
        out.append(f"empty({self.translate(stop, operand_end, depth + 1).strip()})")
        return operand_end

    def _operand_starts(self, index: int, end: int) -> bool:
        """Whether `empty` at this point is JUEL's prefix operator (`empty x`, not `empty(x)`)."""
        if index >= end:
            return False
        char = self.text[index]
        if _is_word_start(char):
            word = self.text[index : _word_end(self.text, index, end)]
            return word not in _NOT_OPERANDS
        return char in "'\"[{!" or char.isdigit()

    def _operand_end(self, start: int, end: int) -> int:
        """The end of the unary operand starting at `start`: a name, literal or group with its
        trailing `.key`, `[index]` and `(arguments)`."""
        text = self.text
        index = _skip_space(text, start, end)
        while index < end:  # prefixes: - + ! empty not
            char = text[index]
            if char in "-+" or (char == "!" and not text.startswith("!=", index)):
                index = _skip_space(text, index + 1, end)
            elif _is_word_start(char) and text[index : _word_end(text, index, end)] in (
                "empty",
                "not",
            ):
                index = _skip_space(text, _word_end(text, index, end), end)
            else:
                break
        if index >= end:
            return end
        char = text[index]
        if char in "'\"":
            stop = _string_end(text, index)
        elif char in _CLOSERS:
            stop = _group_end(text, index)
        elif char.isdigit() or char == ".":
            stop = _number_end(text, index, end)
        elif _is_word_start(char):
            stop = _word_end(text, index, end)
        else:
            return index
        while 0 <= stop < end:  # trailers: .key [index] (arguments)
            after = _skip_space(text, stop, end)
            if text.startswith(".", after) and _is_word_start(text[after + 1 : after + 2]):
                stop = _word_end(text, after + 1, end)
            elif after < end and text[after] in "([":
                stop = _group_end(text, after)
            else:
                return stop
        return end


def _strip_template(text: str) -> str:
    if not text.startswith(("${", "#{")):
        return text
    close = _group_end(text, 1)
    if close < 0:
        _fail(f"'{text[:2]}' is never closed by a matching '}}'")
    if close != len(text):
        _fail(f"'{text[:2]}...}}' must enclose the whole expression; texts around it are refused")
    return text[2:-1].strip()


def normalize(expression: str) -> str:
    """The expression in our language: ``${...}``/``#{...}`` stripped and JUEL translated.

    JUEL's ``&&``, ``||``, ``!x`` (not ``!=``), ``eq ne lt gt le ge div mod``, ``true false null``
    and ``empty x`` become ``and``, ``or``, ``(not x)``, ``== != < > <= >= / %``,
    ``True False None`` and ``empty(x)``. Words are translated only as whole words, outside string
    literals and not after a dot (``order.lt`` reads the key ``lt``). A plain expression passes
    unchanged. Raises ExpressionError for ``${...}`` that does not enclose the whole text and for
    JUEL's ``a ? b : c``.
    """
    try:
        return _Juel(_strip_template(expression.strip()), script=False).translate().strip()
    except ExpressionError as error:
        raise _locate(error, expression) from None


# --- evaluation --------------------------------------------------------------------------------

_RUNTIME_NODES: Final = _STRUCTURE_NODES - {ast.comprehension}
# Results of these nodes are process data or parts of values measured when they were built.
_UNMEASURED: Final = frozenset(
    {ast.Name, ast.Constant, ast.Attribute, ast.Subscript, ast.Slice, ast.IfExp, ast.BoolOp}
)


class _Evaluator(simpleeval.EvalWithCompoundTypes):  # type: ignore[misc, unused-ignore]
    """simpleeval restricted to our grammar, reading dictionary keys for dots, measuring values."""

    nodes: dict[type[ast.AST], Callable[[Any], Any]]
    names: Mapping[str, Any]

    def __init__(self) -> None:
        super().__init__(operators=dict(_OPERATORS), functions=dict(_FUNCTIONS), names={})
        self.functions = dict(_FUNCTIONS)  # EvalWithCompoundTypes adds list, tuple, dict, set
        self.nodes = {
            kind: handler for kind, handler in self.nodes.items() if kind in _RUNTIME_NODES
        }
        # id -> (the value, kept alive so its id stays unique; elements + characters; nesting)
        self.measured: dict[int, tuple[object, int, int]] = {}
        self.steps = _Steps()
        self.busy = False

    def run(self, node: ast.expr, names: Mapping[str, Any], steps: _Steps) -> Any:
        self.busy = True
        self.names = names
        self.steps = steps
        try:
            result = self.eval("", previously_parsed=node)
            if callable(result) or isinstance(result, ModuleType):
                _fail("functions cannot be used as values")
            return result
        finally:
            self.names = {}
            self.measured.clear()
            self.busy = False

    def _eval(self, node: ast.AST) -> Any:
        steps = self.steps
        steps.used += 1
        if steps.used > MAX_STEPS:
            steps.charge(0)
        handler = self.nodes.get(type(node))
        if handler is None:
            _fail(f"{type(node).__name__} is not allowed")
        result = handler(node)
        if type(node) not in _UNMEASURED:
            self._measure(result, 0)
        return result

    def _charge(self, value: object) -> int:
        """Charge the steps that walking `value` takes; returns its size."""
        if isinstance(value, str):
            self.steps.charge(len(value) // 100)
            return len(value)
        if isinstance(value, list | tuple | Mapping):
            size = self._measure(value, 0)[0]
            self.steps.charge(size)
            return size
        return 1

    def _measure(self, value: object, depth: int) -> tuple[int, int]:
        """(elements + characters, nesting) of a value; refuses oversized values and functions."""
        if isinstance(value, str):
            return 1 + len(value), 0
        if isinstance(value, int):
            _check_int(value)
            return 1, 0
        if not isinstance(value, list | tuple | Mapping):
            if callable(value) or isinstance(value, ModuleType):
                _fail("functions cannot be used as values; call them: name(...)")
            return 1, 0
        known = self.measured.get(id(value))
        if known is not None:
            size, height = known[1], known[2]
        else:
            if isinstance(value, Mapping):
                self.steps.charge(2 * len(value))
                items: Iterable[object] = chain(value.keys(), value.values())
            else:
                self.steps.charge(len(value))
                items = value
            size, height = 1, 1
            for item in items:
                item_size, item_height = self._measure(item, depth + 1)
                size += item_size
                height = max(height, item_height + 1)
                if size > MAX_VALUE_SIZE:
                    _fail(f"value too large: at most {MAX_VALUE_SIZE:,} elements and characters")
            self.measured[id(value)] = (value, size, height)
        if depth + height > MAX_VALUE_DEPTH:
            _fail(f"value nested too deeply: at most {MAX_VALUE_DEPTH} levels")
        return size, height

    def _eval_compare(self, node: ast.Compare) -> bool:
        right = self._eval(node.left)
        for operation, comparator in zip(node.ops, node.comparators, strict=True):
            left, right = right, self._eval(comparator)
            if isinstance(operation, ast.In | ast.NotIn):
                if not isinstance(right, Mapping):
                    self._charge(right)
            elif not isinstance(operation, ast.Is | ast.IsNot) and type(left) is type(right):
                self._charge(left)
            if not _OPERATORS[type(operation)](left, right):
                return False
        return True

    def _eval_name(self, node: ast.Name) -> Any:
        if node.id.startswith("_"):
            _fail(_reserved(node.id))
        try:
            return self.names[node.id]
        except KeyError:
            pass
        if node.id in _FUNCTIONS:
            _fail(f"'{node.id}' is a function; call it: {node.id}(...)")
        _fail(f"name '{node.id}' is not defined")

    def _eval_attribute(self, node: ast.Attribute) -> Any:
        key = node.attr
        if key.startswith("_"):
            _fail(_reserved(key))
        container = self._eval(node.value)
        if not isinstance(container, Mapping):
            _fail(
                f"'{_source(node.value)}' is {_kind(container)}, so '.{key}' cannot be read "
                "(a dot reads a key of a dictionary)"
            )
        try:
            return container[key]
        except KeyError:
            _fail(f"'{_source(node.value)}' has no key '{key}'")

    def _eval_subscript(self, node: ast.Subscript) -> Any:
        container = self._eval(node.value)
        key = self._eval(node.slice)
        if not isinstance(container, str | list | tuple | Mapping):
            _fail(f"'{_source(node.value)}' is {_kind(container)} and cannot be indexed")
        try:
            result = container[key]
        except KeyError:
            _fail(f"'{_source(node.value)}' has no key {key!r}")
        except IndexError:
            unit = "characters" if isinstance(container, str) else "elements"
            _fail(
                f"index {key!r} is out of range: '{_source(node.value)}' has "
                f"{len(container)} {unit}"
            )
        except TypeError:
            _fail(f"'{_source(node.value)}' is {_kind(container)} and cannot be indexed by {key!r}")
        if isinstance(key, slice):
            self._measure(result, 0)
        return result

    def _eval_call(self, node: ast.Call) -> Any:
        _check_call(node)
        name = _source(node.func)
        function = _FUNCTIONS[name]
        arguments = [self._eval(argument) for argument in node.args]
        options = {str(keyword.arg): self._eval(keyword.value) for keyword in node.keywords}
        if any(callable(value) for value in chain(arguments, options.values())):
            _fail("functions cannot be used as values")
        if name in _WALKING_FUNCTIONS:
            for argument in arguments:
                self._charge(argument)
        try:
            return function(*arguments, **options)
        except ExpressionError:
            raise
        except Exception as exc:
            message = _describe(exc).replace(f"{function.__name__}(", f"{name}(")
            prefix = "" if message.startswith(f"{name}(") else f"{name}(): "
            raise ExpressionError(prefix + message) from exc


_local = threading.local()
_construction = threading.Lock()


def _evaluator() -> _Evaluator:
    """This thread's evaluator (simpleeval's constructor changes process-wide warning filters)."""
    evaluator: _Evaluator | None = getattr(_local, "evaluator", None)
    if evaluator is not None and not evaluator.busy:
        return evaluator
    with _construction:
        evaluator = _Evaluator()
    if getattr(_local, "evaluator", None) is None:
        _local.evaluator = evaluator
    return evaluator


def _evaluate_node(
    node: ast.expr,
    names: Mapping[str, Any],
    expression: str,
    *,
    steps: _Steps | None = None,
    line: int | None = None,
) -> Any:
    try:
        return _evaluator().run(node, names, steps or _Steps())
    except ExpressionError as error:
        raise _locate(error, expression, line) from None
    except Exception as exc:
        raise ExpressionError(_describe(exc), expression=expression, line=line) from exc


@functools.lru_cache(maxsize=4096)
def _compile_expression(expression: str) -> ast.expr:
    try:
        if len(expression) > MAX_EXPRESSION_LENGTH:
            _fail(f"expression too long: at most {MAX_EXPRESSION_LENGTH:,} characters")
        text = normalize(expression)
        if not text:
            _fail("the expression is empty")
        try:
            tree = ast.parse(text, mode="eval")
        except SyntaxError as exc:
            raise ExpressionSyntaxError(f"syntax error: {exc.msg}") from None
        except (ValueError, RecursionError, MemoryError) as exc:
            _fail(f"the expression cannot be parsed: {_describe(exc)}")
        _check_expression(tree.body)
    except ExpressionError as error:
        raise _locate(error, expression) from None
    return tree.body


@functools.lru_cache(maxsize=1024)
def _compile_script(script: str) -> tuple[ast.stmt, ...]:
    lines = script.splitlines()
    try:
        if len(script) > MAX_SCRIPT_LENGTH:
            _fail(f"script too long: at most {MAX_SCRIPT_LENGTH:,} characters")
        text = _Juel(script, script=True).translate()
    except ExpressionError as error:
        raise _locate(error, script) from None
    try:
        module = ast.parse(text, mode="exec")
    except SyntaxError as exc:
        raise ExpressionSyntaxError(
            f"syntax error: {exc.msg}", expression=_line(lines, exc.lineno), line=exc.lineno
        ) from None
    except (ValueError, RecursionError, MemoryError) as exc:
        raise ExpressionError(
            f"the script cannot be parsed: {_describe(exc)}", expression=script
        ) from None
    _check_statements(module.body, lines, 1)
    return tuple(module.body)


def validate_expression(text: str) -> None:
    """Parse and check an expression without evaluating it; raises ExpressionError.

    Used at deploy time: an expression that passes can still fail when evaluated (an undefined
    name, a division by zero), but never because of its form.
    """
    _compile_expression(text)


def validate_script(text: str) -> None:
    """Parse and check a script without running it; raises ExpressionError naming the line."""
    _compile_script(text)


def evaluate(expression: str, data: Mapping[str, Any]) -> Any:
    """The value of `expression` with the process variables `data` as names.

    Accepts our language, Camunda's ``${...}``/``#{...}`` and JUEL operators (see normalize()).
    The result is returned as computed: Decimal, date, datetime and timedelta stay what they are.
    """
    return _evaluate_node(_compile_expression(expression), data, expression)


def evaluate_condition(expression: str, data: Mapping[str, Any]) -> bool:
    """Whether `expression` holds: its value's truth (None, 0, "" and [] are false)."""
    value = evaluate(expression, data)
    try:
        return bool(value)
    except Exception as exc:
        raise ExpressionError(_describe(exc), expression=expression) from exc


class _ScriptRun:
    """One run of a script: changes collect apart from `data` until every line has run.

    Between lines the changed variables hold checked copies that keep decimals, dates and
    durations; they become JSON when the script has finished.
    """

    def __init__(self, script: str, data: dict[str, Any]) -> None:
        self.lines = script.splitlines()
        self.data = data
        self.changes: dict[str, Any] = {}
        self.names: ChainMap[str, Any] = ChainMap(self.changes, data)
        self.written = 0
        self.steps = _Steps()

    def execute(self, statements: Sequence[ast.stmt]) -> None:
        for statement in statements:
            source = _line(self.lines, statement.lineno)
            try:
                self._statement(statement, source)
            except ExpressionError as error:
                raise _locate(error, source, statement.lineno) from None
            except Exception as exc:
                raise ExpressionError(
                    _describe(exc), expression=source, line=statement.lineno
                ) from exc

    def _statement(self, statement: ast.stmt, source: str) -> None:
        if isinstance(statement, ast.Assign):
            value = self._value(statement.value, source)
            for target in statement.targets:
                self._assign(target, value, source)
        elif isinstance(statement, ast.AugAssign):
            combined = ast.BinOp(left=statement.target, op=statement.op, right=statement.value)
            self._assign(statement.target, self._value(combined, source), source)
        elif isinstance(statement, ast.If):
            taken = self._value(statement.test, source)
            self.execute(statement.body if taken else statement.orelse)

    def _value(self, node: ast.expr, source: str) -> Any:
        return _evaluate_node(node, self.names, source, steps=self.steps)

    def _store(self, value: Any) -> Any:
        converter = _JsonConverter(MAX_VALUE_SIZE, self.steps, native=True)
        stored = converter.convert(value)
        self.written += converter.size
        if self.written > MAX_SCRIPT_WRITES:
            _fail(
                f"the script stores too much: at most {MAX_SCRIPT_WRITES:,} elements + characters"
            )
        return stored

    def results(self) -> dict[str, Any]:
        return {name: to_json_value(value) for name, value in self.changes.items()}

    def _assign(self, target: ast.expr, value: Any, source: str) -> None:
        if isinstance(target, ast.Name):
            self.changes[target.id] = self._store(value)
            return
        if not isinstance(target, ast.Subscript | ast.Attribute):
            _fail(f"cannot assign to '{_source(target)}'")
        container = self._container(target.value, source)
        key = (
            target.attr if isinstance(target, ast.Attribute) else self._value(target.slice, source)
        )
        where = _source(target.value)
        if isinstance(container, dict):
            if not isinstance(key, str):
                _fail(f"dictionary keys must be texts, not {_kind(key)} ({key!r})")
            container[key] = self._store(value)
        elif isinstance(container, list) and not isinstance(target, ast.Attribute):
            if not isinstance(key, int) or isinstance(key, bool):
                _fail(f"'{where}' is a list; its index must be a whole number, not {_kind(key)}")
            if not -len(container) <= key < len(container):
                _fail(f"index {key} is out of range: '{where}' has {len(container)}")
            container[key] = self._store(value)
        else:
            _fail(f"cannot assign into '{where}': it is {_kind(container)}")

    def _container(self, node: ast.expr, source: str) -> Any:
        """The variable's own copy of the list or dictionary that `node` names."""
        if isinstance(node, ast.Name):
            if node.id not in self.changes:
                if node.id not in self.data:
                    _fail(f"name '{node.id}' is not defined")
                self.changes[node.id] = self._store(self.data[node.id])
            return self.changes[node.id]
        if not isinstance(node, ast.Subscript | ast.Attribute):
            _fail(f"cannot assign into '{_source(node)}'")
        parent = self._container(node.value, source)
        key = node.attr if isinstance(node, ast.Attribute) else self._value(node.slice, source)
        where = _source(node.value)
        if isinstance(parent, dict) and isinstance(key, str):
            if key not in parent:
                _fail(f"'{where}' has no key '{key}'")
            return parent[key]
        if (
            isinstance(parent, list)
            and isinstance(key, int)
            and not isinstance(node, ast.Attribute)
        ):
            if not -len(parent) <= key < len(parent):
                _fail(f"index {key} is out of range: '{where}' has {len(parent)}")
            return parent[key]
        _fail(f"cannot read {key!r} of '{where}': it is {_kind(parent)}")


def run_script(script: str, data: dict[str, Any]) -> dict[str, Any]:
    """Run a script against the process variables `data`; returns the variables it changed.

    A script is lines of ``name = expression``, ``name["key"] = expression``,
    ``name.key = expression``, ``name += expression`` (any of ``+ - * / // % **``) and
    ``if``/``elif``/``else`` blocks of such lines; ``pass`` and ``#`` comments are allowed.
    Every assignment copies (``a = b`` then ``a["x"] = 1`` leaves ``b`` alone) and refuses what
    JSON cannot hold. Within the script a Decimal, date or duration stays one (``total = ...``
    then ``if total > 1000:`` works); when the script has finished they are stored as JSON texts
    (see to_json_value(): ``"12.50"``, ISO 8601 dates and date-times, ``"PT2H"``). The changes
    reach `data` only when every line has run: a failing script leaves `data` untouched and
    raises ExpressionError naming the line.
    """
    statements = _compile_script(script)
    run = _ScriptRun(script, data)
    run.execute(statements)
    changes = run.results()
    data.update(changes)
    return changes
