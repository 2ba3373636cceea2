"""The small part of the Kusto query language the emulated Resource Graph answers, over rows given as dicts.

Recognised (everything else is a `KqlError`, which the service answers as Resource Graph's 400 InvalidQuery):

    <table> ( | <operator> )*
    where <predicate>                 and / or / not(), parentheses
    extend <name> = <expr>, ...
    project [<name> =] <expr>, ...    an unnamed path a.b.c is named a_b_c, as Kusto names it
    order by | sort by <expr> [asc|desc], ...       (desc when not said, as in Kusto)
    take | limit <n>        top <n> by <expr> [asc|desc]

Predicates: == != (case-sensitive) =~ !~ (case-insensitive) < <= > >=, in / !in / in~ / !in~ (<list>),
between (<a> .. <b>), contains / !contains (case-insensitive), has, startswith, endswith, isnotempty(x),
isempty(x). Expressions: column paths (`properties.changeAttributes.timestamp`, `properties.changes["tags.env"]`),
string literals ('x' or "x"), integers, timespans (1d, 6h, 30m, 90s), datetime(2026-11-30T10:00:00Z), ago(),
now(), todatetime(), tostring(), toint(), tolong(), tolower(), toupper(). A `properties.*` value is dynamic: a
comparison with a datetime converts it, as the documented queries do explicitly with todatetime().
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

DYNAMIC_COLUMNS = {"properties", "tags", "sku", "plan", "identity", "zones", "extendedLocation"}
_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
  | (?P<datetime>datetime\s*\([^)]*\))
  | (?P<timespan>\d+(?:\.\d+)?(?:ms|d|h|m|s)\b)
  | (?P<number>\d+(?:\.\d+)?)
  | (?P<op>==|!=|=~|!~|>=|<=|\.\.|!in~|!in\b|in~|!contains\b|[|(),.\[\]=<>])
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
""", re.VERBOSE)
_UNITS = {"d": timedelta(days=1), "h": timedelta(hours=1), "m": timedelta(minutes=1), "s": timedelta(seconds=1),
          "ms": timedelta(milliseconds=1)}


class KqlError(Exception):
    """A query the emulator does not answer: `kind` is "ParserFailure" (not Kusto) or "UnsupportedQuery" (Kusto
    the emulator does not evaluate); `token` and `position` say where."""

    def __init__(self, kind: str, message: str, token: str = "", position: int = -1):
        super().__init__(message)
        self.kind, self.message, self.token, self.position = kind, message, token, position


@dataclass
class Column:
    name: str
    dynamic: bool


@dataclass
class Result:
    rows: list[dict[str, Any]]
    columns: list[Column]
    limited: bool  # the query has take / limit / top (Resource Graph does not page those)


def parse_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        return None
    text = value.strip().replace(" ", "T")
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    match = re.match(r"^(.*?\.\d{6})\d*(.*)$", text)  # Python takes at most 6 fractional digits
    if match:
        text = match[1] + match[2]
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


class Query:
    """A parsed query; `run(rows)` evaluates it against the table's rows."""

    def __init__(self, text: str, tables: set[str], now: Callable[[], datetime]):
        self.text, self.now = text, now
        self.tokens = [(m.lastgroup, m.group(), m.start()) for m in _TOKEN.finditer(text) if m.lastgroup != "ws"]
        covered = sum(len(m.group()) for m in _TOKEN.finditer(text))
        if covered != len(text):
            position = next(i for i, _ in enumerate(text) if not any(m.start() <= i < m.end()
                                                                     for m in _TOKEN.finditer(text)))
            raise KqlError("ParserFailure", "ParserFailure", text[position], position)
        self.at = 0
        kind, table, position = self._next()
        if kind != "name" or table.lower() not in tables:
            raise KqlError("UnsupportedQuery", f"The local emulator answers queries on {', '.join(sorted(tables))} "
                                               f"only, not '{table}'.", table, position)
        self.table = table.lower()
        self.operators: list[tuple[str, Any]] = []
        while self.at < len(self.tokens):
            self._expect("|")
            self.operators.append(self._operator())

    # ----- parsing ---------------------------------------------------------------------------------
    def _next(self) -> tuple[str, str, int]:
        if self.at >= len(self.tokens):
            raise KqlError("ParserFailure", "ParserFailure: the query ends too early", "<EOF>", len(self.text))
        token = self.tokens[self.at]
        self.at += 1
        return token  # type: ignore[return-value]

    def _peek(self, offset: int = 0) -> str | None:
        at = self.at + offset
        return self.tokens[at][1] if at < len(self.tokens) else None

    def _accept(self, *words: str) -> str | None:
        token = self._peek()
        if token is not None and token.lower() in words:
            self.at += 1
            return token.lower()
        return None

    def _expect(self, word: str) -> None:
        kind, token, position = self._next()
        if token.lower() != word:
            raise KqlError("ParserFailure", f"ParserFailure: expected '{word}'", token, position)

    def _operator(self) -> tuple[str, Any]:
        kind, word, position = self._next()
        word = word.lower()
        if word == "where":
            return "where", self._predicate()
        if word == "extend":
            return "extend", self._assignments(named=True)
        if word == "project":
            return "project", self._assignments(named=False)
        if word in ("order", "sort"):
            self._expect("by")
            return "order", self._keys()
        if word in ("take", "limit"):
            return "take", self._count()
        if word == "top":
            count = self._count()
            self._expect("by")
            return "top", (count, self._keys())
        raise KqlError("UnsupportedQuery", f"The local emulator does not evaluate the operator '{word}'.", word,
                       position)

    def _count(self) -> int:
        kind, token, position = self._next()
        if kind != "number" or not token.isdigit():
            raise KqlError("ParserFailure", "ParserFailure: expected a row count", token, position)
        return int(token)

    def _keys(self) -> list[tuple[Any, bool]]:
        keys = []
        while True:
            expression = self._expression()
            direction = self._accept("asc", "desc")
            keys.append((expression, direction != "asc"))
            if not self._accept(","):
                return keys

    def _assignments(self, named: bool) -> list[tuple[str, Any]]:
        out, unnamed = [], 0
        while True:
            if self._peek(1) == "=" and self._peek(2) != "=":
                kind, name, position = self._next()
                if kind != "name":
                    raise KqlError("ParserFailure", "ParserFailure: expected a column name", name, position)
                self._next()
                out.append((name, self._expression()))
            elif named:
                kind, token, position = self._next()
                raise KqlError("ParserFailure", "ParserFailure: extend needs 'name = expression'", token, position)
            else:
                expression = self._expression()
                if expression[0] == "path":
                    name = "_".join(str(part) for part in expression[1])
                else:
                    unnamed += 1
                    name = f"Column{unnamed}"
                out.append((name, expression))
            if not self._accept(","):
                return out

    def _predicate(self) -> Any:
        left = self._conjunction()
        while self._accept("or"):
            left = ("or", left, self._conjunction())
        return left

    def _conjunction(self) -> Any:
        left = self._comparison()
        while self._accept("and"):
            left = ("and", left, self._comparison())
        return left

    def _comparison(self) -> Any:
        if self._peek() == "(":
            self._next()
            inner = self._predicate()
            self._expect(")")
            return inner
        left = self._expression()
        op = self._peek()
        if op is None or op.lower() not in ("==", "!=", "=~", "!~", "<", "<=", ">", ">=", "in", "!in", "in~",
                                            "!in~", "between", "contains", "!contains", "has", "startswith",
                                            "endswith"):
            return ("truthy", left)
        self._next()
        op = op.lower()
        if op in ("in", "!in", "in~", "!in~"):
            self._expect("(")
            items = [self._expression()]
            while self._accept(","):
                items.append(self._expression())
            self._expect(")")
            return ("in", op, left, items)
        if op == "between":
            self._expect("(")
            low = self._expression()
            self._expect("..")
            high = self._expression()
            self._expect(")")
            return ("between", left, low, high)
        return ("compare", op, left, self._expression())

    def _expression(self) -> Any:
        kind, token, position = self._next()
        if kind == "string":
            body = token[1:-1]
            value: Any = ("literal", re.sub(r"\\(.)", r"\1", body))
        elif kind == "number":
            value = ("literal", float(token) if "." in token else int(token))
        elif kind == "timespan":
            number, unit = re.match(r"([\d.]+)(\w+)", token).groups()  # type: ignore[union-attr]
            value = ("literal", float(number) * _UNITS[unit])
        elif kind == "datetime":
            raw = token[token.index("(") + 1:-1].strip().strip("'\"")
            moment = parse_time(raw)
            if moment is None:
                raise KqlError("ParserFailure", f"ParserFailure: '{raw}' is not a datetime", raw, position)
            value = ("literal", moment)
        elif kind == "name" and self._peek() == "(":
            value = self._call(token.lower(), position)
        elif kind == "name":
            if token.lower() in ("true", "false"):
                return ("literal", token.lower() == "true")
            parts: list[Any] = [token]
            while self._peek() in (".", "["):
                if self._next()[1] == ".":
                    parts.append(self._next()[1])
                else:
                    index = self._expression()
                    self._expect("]")
                    if index[0] != "literal":
                        raise KqlError("UnsupportedQuery", "The local emulator indexes with literals only.",
                                       "[", position)
                    parts.append(index[1])
            value = ("path", parts)
        else:
            raise KqlError("ParserFailure", "ParserFailure", token, position)
        return value

    def _call(self, function: str, position: int) -> Any:
        self._expect("(")
        known = {"ago", "now", "todatetime", "tostring", "toint", "tolong", "tolower", "toupper", "isnotempty",
                 "isempty", "not", "isnotnull", "isnull"}
        if function not in known:
            raise KqlError("UnsupportedQuery", f"The local emulator does not evaluate the function "
                                               f"'{function}'.", function, position)
        args = []
        if self._peek() != ")":
            args.append(self._predicate() if function == "not" else self._expression())
            while self._accept(","):
                args.append(self._expression())
        self._expect(")")
        return ("call", function, args)

    # ----- evaluation ------------------------------------------------------------------------------
    def run(self, rows: list[dict[str, Any]]) -> Result:
        now = self.now()
        columns = [Column(name, name in DYNAMIC_COLUMNS) for name in (rows[0] if rows else
                                                                       _DEFAULT_COLUMNS)]
        current = [dict(row) for row in rows]
        limited = False
        for kind, argument in self.operators:
            if kind == "where":
                current = [row for row in current if _truthy(self._eval(argument, row, now))]
            elif kind == "extend":
                for row in current:
                    for name, expression in argument:
                        row[name] = self._eval(expression, row, now)
                for name, expression in argument:
                    columns = [c for c in columns if c.name != name] + [Column(name, _is_dynamic(expression))]
            elif kind == "project":
                current = [{name: self._eval(expression, row, now) for name, expression in argument} for row in current]
                columns = [Column(name, _is_dynamic(expression)) for name, expression in argument]
            elif kind == "order":
                current = self._sorted(current, argument, now)
            elif kind == "take":
                current, limited = current[:argument], True
            elif kind == "top":
                count, keys = argument
                current, limited = self._sorted(current, keys, now)[:count], True
        return Result(current, columns, limited)

    def _sorted(self, rows: list[dict[str, Any]], keys: list[tuple[Any, bool]], now: datetime) -> list[dict]:
        for expression, descending in reversed(keys):
            present = [r for r in rows if self._eval(expression, r, now) is not None]
            absent = [r for r in rows if self._eval(expression, r, now) is None]
            present.sort(key=lambda r: _sort_key(self._eval(expression, r, now)), reverse=descending)
            rows = present + absent if descending else absent + present  # nulls last desc, first asc (Kusto)
        return rows

    def _eval(self, node: Any, row: dict[str, Any], now: datetime) -> Any:
        kind = node[0]
        if kind == "literal":
            return node[1]
        if kind == "path":
            value: Any = row
            for index, part in enumerate(node[1]):
                if isinstance(value, dict):
                    value = value.get(part)  # Kusto's names are case-sensitive
                elif isinstance(value, list) and isinstance(part, int) and -len(value) <= part < len(value):
                    value = value[part]
                else:
                    return None
            return value
        if kind == "call":
            return self._function(node[1], [self._eval(a, row, now) for a in node[2]], now)
        if kind in ("and", "or"):
            left = _truthy(self._eval(node[1], row, now))
            if kind == "and":
                return left and _truthy(self._eval(node[2], row, now))
            return left or _truthy(self._eval(node[2], row, now))
        if kind == "truthy":
            return _truthy(self._eval(node[1], row, now))
        if kind == "between":
            value = self._eval(node[1], row, now)
            low, high = self._eval(node[2], row, now), self._eval(node[3], row, now)
            value, low = _align(value, low)
            value, high = _align(value, high)
            return value is not None and low is not None and high is not None and low <= value <= high
        if kind == "in":
            op, left = node[1], self._eval(node[2], row, now)
            items = [self._eval(item, row, now) for item in node[3]]
            if op.endswith("~"):
                found = str(left).lower() in {str(i).lower() for i in items}
            else:
                found = left in items
            return found != op.startswith("!")
        if kind == "compare":
            return _compare(node[1], self._eval(node[2], row, now), self._eval(node[3], row, now))
        raise AssertionError(kind)

    @staticmethod
    def _function(name: str, args: list[Any], now: datetime) -> Any:
        if name == "ago":
            return now - args[0] if isinstance(args[0], timedelta) else None
        if name == "now":
            return now
        if name == "todatetime":
            return parse_time(args[0])
        if name == "tostring":
            value = args[0]
            if value is None:
                return ""
            if isinstance(value, datetime):
                return _iso(value)
            return json.dumps(value) if isinstance(value, (dict, list)) else str(value)
        if name in ("toint", "tolong"):
            try:
                return int(str(args[0]))
            except ValueError:
                return None
        if name in ("tolower", "toupper"):
            return None if args[0] is None else (str(args[0]).lower() if name == "tolower" else str(args[0]).upper())
        if name in ("isnotempty", "isempty"):
            empty = args[0] is None or args[0] == "" or args[0] == {} or args[0] == []
            return empty if name == "isempty" else not empty
        if name in ("isnotnull", "isnull"):
            return (args[0] is None) == (name == "isnull")
        if name == "not":
            return not _truthy(args[0])
        raise AssertionError(name)


_DEFAULT_COLUMNS = ("id", "name", "type", "tenantId", "kind", "location", "resourceGroup", "subscriptionId",
                    "managedBy", "sku", "plan", "properties", "tags", "identity", "zones", "extendedLocation")


def _is_dynamic(expression: Any) -> bool:
    """A column is dynamic when it is a path into a dynamic column with no conversion around it."""
    return expression[0] == "path" and (len(expression[1]) > 1 or expression[1][0] in DYNAMIC_COLUMNS)


def _truthy(value: Any) -> bool:
    return value is True


def _align(left: Any, right: Any) -> tuple[Any, Any]:
    """A dynamic string compared with a datetime is read as one (both sides, whichever is the string)."""
    if isinstance(left, datetime) and not isinstance(right, datetime):
        return left, parse_time(right)
    if isinstance(right, datetime) and not isinstance(left, datetime):
        return parse_time(left), right
    return left, right


def _compare(op: str, left: Any, right: Any) -> bool:
    left, right = _align(left, right)
    if op in ("=~", "!~"):
        equal = left is not None and right is not None and str(left).lower() == str(right).lower()
        return equal if op == "=~" else not equal
    if op in ("==", "!="):
        return (left == right) if op == "==" else (left != right)
    if op in ("contains", "!contains"):
        found = left is not None and str(right).lower() in str(left).lower()
        return found if op == "contains" else not found
    if op == "has":
        return left is not None and re.search(rf"(?<![A-Za-z0-9]){re.escape(str(right))}(?![A-Za-z0-9])",
                                              str(left), re.IGNORECASE) is not None
    if op == "startswith":
        return left is not None and str(left).lower().startswith(str(right).lower())
    if op == "endswith":
        return left is not None and str(left).lower().endswith(str(right).lower())
    if left is None or right is None:
        return False
    try:
        return {"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right}[op]
    except TypeError:
        return False


def _sort_key(value: Any) -> Any:
    if isinstance(value, datetime):
        return (0, value.timestamp())
    if isinstance(value, (int, float)):
        return (0, value)
    return (1, str(value))


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def output(value: Any) -> Any:
    """A result value as JSON: datetimes as ISO 8601 with seven fractional digits, as Resource Graph writes them."""
    if isinstance(value, datetime):
        return _iso(value)
    if isinstance(value, timedelta):
        return str(value)
    return value
