"""The few Kusto queries the emulated Log Analytics answers (local/emulator/logs.py), parsed and run over the
emulated Application Insights telemetry (local/emulator/telemetry.py). Apart from kql.py, Resource Graph's
subset: that one filters and projects resources and has no summarize; this one only aggregates records.

This is not KQL. It recognises the shapes a post-rollback watch asks (request counts split by success, the
failed-request count, the exception count, over a window) and refuses everything else with the 400 the service
gives for a query it cannot run: stricter than guessing what an unknown query meant.

    AppRequests
    | where TimeGenerated > ago(15m) and _ResourceId =~ "/subscriptions/.../components/augeo-api"
    | summarize total = sum(ItemCount), failed = sumif(ItemCount, Success == false)

    requests | where timestamp between (datetime(2026-12-01T10:00:00Z) .. now())
    | summarize sum(itemCount) by success, bin(timestamp, 1m)

    AppExceptions | where TimeGenerated >= ago(5m) | summarize exceptions = sum(ItemCount)

The grammar, all of it (one source, any number of `where`, then exactly one `summarize`, last):

    source     AppRequests | AppExceptions      workspace tables: workspace queries and resource queries
               requests | exceptions            classic names: only a resource query on an App Insights component
    where      <time> (> | >= | < | <=) <instant>  |  <time> between (<instant> .. <instant>)
               | _ResourceId (== | =~ | !=) "<id>"       App* tables only; values are lower case, as stored
               | <success> (== | !=) <literal>           requests tables only
               joined by `and`
    instant    ago(<timespan>) | now() [(+ | -) <timespan>] | datetime(<ISO 8601>)
    timespan   <number>(d | h | m | s | ms)
    summarize  [<name> =] count() | countif(<predicate>) | sum(<item count>) | sumif(<item count>, <predicate>),
               ...  [by <success> | bin(<time>, <timespan>), ...]

Column names are the schema's and case-sensitive, as in KQL: `TimeGenerated`, `Success` (bool), `ItemCount`,
`_ResourceId` in App* tables; `timestamp`, `success` (a *string*, "True"/"False", in the classic schema),
`itemCount` in the classic ones. Aggregates are named as Kusto names them (`count_`, `sum_ItemCount`,
`sumif_ItemCount`, `countif_`), group columns come first, and a `summarize` without `by` over no rows gives one
row of zeros while one with `by` gives no row at all, as Kusto does. Rows come in no particular order (Kusto
promises none; the official App Insights example's bins are out of order too), so a reader must not rely on it.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Literal, NamedTuple


class Row(NamedTuple):
    """One telemetry record: when (epoch seconds), whether the request succeeded (None for exceptions), how many
    items it stands for (adaptive sampling's ItemCount) and the component it belongs to (lower case)."""

    time: float
    success: bool | None
    item_count: int
    resource_id: str


class QueryError(Exception):
    """A query the emulator cannot run: `kind` is "SyntaxError" or "SemanticError", as the service reports it."""

    def __init__(self, kind: Literal["SyntaxError", "SemanticError"], message: str):
        super().__init__(message)
        self.kind, self.message = kind, message


@dataclass(frozen=True)
class Schema:
    """A table as a query names it, with its column names and the type of its success column."""

    name: str
    kind: Literal["requests", "exceptions"]
    time: str
    item_count: str
    success: str | None
    success_type: Literal["bool", "string"] | None
    resource_id: str | None
    classic: bool


SCHEMAS = {schema.name: schema for schema in (
    Schema("AppRequests", "requests", "TimeGenerated", "ItemCount", "Success", "bool", "_ResourceId", False),
    Schema("AppExceptions", "exceptions", "TimeGenerated", "ItemCount", None, None, "_ResourceId", False),
    Schema("requests", "requests", "timestamp", "itemCount", "success", "string", None, True),
    Schema("exceptions", "exceptions", "timestamp", "itemCount", None, None, None, True),
)}

_TOKEN = re.compile(r"""
    (?P<space>\s+|//[^\n]*)
  | (?P<datetime>datetime\s*\(\s*(?P<iso>[^)]*?)\s*\))
  | (?P<timespan>\d+(?:\.\d+)?(?:ms|d|h|m|s)(?![A-Za-z0-9_]))
  | (?P<number>\d+(?:\.\d+)?(?![A-Za-z0-9_]))
  | (?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>\.\.|==|!=|=~|!~|>=|<=|[|,()=<>+-])
""", re.VERBOSE)
_UNITS = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


class _Token(NamedTuple):
    kind: str
    text: str
    at: int


def _tokens(text: str) -> list[_Token]:
    tokens, at = [], 0
    while at < len(text):
        match = _TOKEN.match(text, at)
        if not match:
            raise QueryError("SyntaxError", f"Syntax error at position {at}: unexpected {text[at:at + 10]!r}.")
        kind = match.lastgroup  # the outer group: a datetime literal is one token
        if kind != "space":
            tokens.append(_Token(kind, match["iso"] if kind == "datetime" else match[0], at))
        at = match.end()
    return tokens


def _timespan(text: str) -> float:
    number, unit = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|d|h|m|s)", text).groups()
    return float(number) * _UNITS[unit]


def _instant_of(iso: str) -> float:
    try:
        moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        raise QueryError("SyntaxError", f"datetime({iso}) is not a valid datetime literal.") from None
    if moment.tzinfo is None:  # Kusto datetimes are UTC
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


Predicate = Callable[[Row], bool]


@dataclass
class Aggregate:
    name: str
    kind: Literal["count", "countif", "sum", "sumif"]
    where: Predicate | None = None

    def value(self, row: Row) -> int:
        if self.where is not None and not self.where(row):
            return 0
        return 1 if self.kind in ("count", "countif") else row.item_count


@dataclass
class Group:
    name: str
    type: str
    key: Callable[[Row], Any]


@dataclass
class Query:
    """A parsed query: its table, filters (with the time bounds they imply) and its summarize."""

    schema: Schema
    where: list[Predicate] = field(default_factory=list)
    since: float = float("-inf")
    until: float = float("inf")
    groups: list[Group] = field(default_factory=list)
    aggregates: list[Aggregate] = field(default_factory=list)

    @property
    def columns(self) -> list[tuple[str, str]]:
        return [(g.name, g.type) for g in self.groups] + [(a.name, "long") for a in self.aggregates]

    def run(self, rows: Iterable[Row]) -> list[list[Any]]:
        totals: dict[tuple[Any, ...], list[int]] = {}
        for row in rows:
            if all(predicate(row) for predicate in self.where):
                key = tuple(group.key(row) for group in self.groups)
                sums = totals.setdefault(key, [0] * len(self.aggregates))
                for index, aggregate in enumerate(self.aggregates):
                    sums[index] += aggregate.value(row)
        if not self.groups and not totals:
            totals[()] = [0] * len(self.aggregates)  # Kusto: no group keys, one row; an empty sum or count is 0
        # No particular order: a stable shuffle, so that a reader relying on the order fails every time.
        keyed = sorted(totals.items(), key=lambda item: zlib.crc32(repr(item[0]).encode()))
        return [list(key) + sums for key, sums in keyed]


class _Parser:
    def __init__(self, text: str, tables: set[str], now: float):
        self.tokens, self.at, self.tables, self.now = _tokens(text), 0, tables, now

    # ----- token helpers -----------------------------------------------------------------------------
    def peek(self, offset: int = 0) -> _Token | None:
        index = self.at + offset
        return self.tokens[index] if index < len(self.tokens) else None

    def take(self, text: str | None = None, kind: str | None = None) -> _Token:
        token = self.peek()
        if token is None or (text is not None and token.text != text) or (kind is not None and token.kind != kind):
            wanted = repr(text) if text else kind
            found = f"{token.text!r} at position {token.at}" if token else "the end of the query"
            raise QueryError("SyntaxError", f"Syntax error: expected {wanted}, found {found}.")
        self.at += 1
        return token

    def accept(self, text: str) -> bool:
        token = self.peek()
        if token is not None and token.text == text and token.kind in ("op", "name"):
            self.at += 1
            return True
        return False

    # ----- the query ---------------------------------------------------------------------------------
    def query(self) -> Query:
        source = self.take(kind="name").text
        if source not in SCHEMAS or source not in self.tables:
            raise QueryError("SemanticError", f"'{source}': Failed to resolve table or column expression named "
                                              f"'{source}'")
        query = Query(SCHEMAS[source])
        summarized = False
        while self.peek() is not None:
            self.take("|")
            operator = self.take(kind="name").text
            if summarized:
                raise QueryError("SyntaxError", f"The emulator answers queries that end with their summarize; "
                                                f"'{operator}' after it is not one of the shapes in "
                                                f"local/emulator/logs_kql.py.")
            if operator == "where":
                query.where.append(self.predicate(query, bounds=True))
                while self.accept("and"):
                    query.where.append(self.predicate(query, bounds=True))
            elif operator == "summarize":
                self.summarize(query)
                summarized = True
            else:
                raise QueryError("SyntaxError", f"The emulator does not run the '{operator}' operator: it answers "
                                                f"only the query shapes in local/emulator/logs_kql.py.")
        if not summarized:
            raise QueryError("SyntaxError", "The emulator answers only queries that summarize (count or "
                                            "sum(ItemCount)); a query returning raw records is not one of the "
                                            "shapes in local/emulator/logs_kql.py.")
        return query

    def column(self, query: Query) -> str:
        name = self.take(kind="name").text
        schema = query.schema
        if name not in {schema.time, schema.item_count, schema.success, schema.resource_id} - {None}:
            raise QueryError("SemanticError", f"Failed to resolve scalar expression named '{name}'")
        return name

    def predicate(self, query: Query, bounds: bool = False) -> Predicate:
        schema = query.schema
        name = self.column(query)
        if name == schema.time:
            return self.time_predicate(query, bounds)
        operator = self.take(kind="op").text
        if name == schema.resource_id:
            if operator not in ("==", "=~", "!="):
                raise QueryError("SemanticError", f"Operator '{operator}' cannot compare a string column.")
            value = self.string()
            if operator == "=~":
                return lambda row: row.resource_id == value.lower()
            if operator == "==":  # case-sensitive, and the stored ids are lower case
                return lambda row: row.resource_id == value
            return lambda row: row.resource_id != value
        if name == schema.success:
            if operator not in ("==", "!="):
                raise QueryError("SemanticError", f"Operator '{operator}' cannot compare '{name}'.")
            wanted = self.success_literal(schema)
            return (lambda row: row.success == wanted) if operator == "==" else (lambda row: row.success != wanted)
        raise QueryError("SemanticError", f"'{name}' cannot be used as a filter here.")

    def time_predicate(self, query: Query, bounds: bool) -> Predicate:
        operator = self.take(kind="name" if self.peek() and self.peek().text == "between" else "op").text
        if operator == "between":
            self.take("(")
            low = self.instant()
            self.take("..")
            high = self.instant()
            self.take(")")
            if bounds:
                query.since, query.until = max(query.since, low), min(query.until, high)
            return lambda row: low <= row.time <= high
        if operator not in (">", ">=", "<", "<="):
            raise QueryError("SemanticError", f"Operator '{operator}' cannot compare a datetime column here.")
        moment = self.instant()
        if bounds and operator in (">", ">="):
            query.since = max(query.since, moment)
        elif bounds:
            query.until = min(query.until, moment)
        return {">": lambda row: row.time > moment, ">=": lambda row: row.time >= moment,
                "<": lambda row: row.time < moment, "<=": lambda row: row.time <= moment}[operator]

    def instant(self) -> float:
        token = self.take()
        if token.kind == "datetime":
            return _instant_of(token.text)
        if token.text == "ago":
            self.take("(")
            span = _timespan(self.take(kind="timespan").text)
            self.take(")")
            return self.now - span
        if token.text == "now":
            self.take("(")
            self.take(")")
            if self.peek() is not None and self.peek().text in ("+", "-"):
                sign = 1 if self.take().text == "+" else -1
                return self.now + sign * _timespan(self.take(kind="timespan").text)
            return self.now
        raise QueryError("SyntaxError", f"Syntax error at position {token.at}: expected ago(...), now() or "
                                        f"datetime(...), found {token.text!r}.")

    def string(self) -> str:
        token = self.take(kind="string")
        return re.sub(r"\\(.)", r"\1", token.text[1:-1])

    def success_literal(self, schema: Schema) -> bool | None:
        """True or False; None for a string that is neither, which (as a string compare) matches no row."""
        token = self.take()
        if token.kind == "name" and token.text in ("true", "false"):
            return token.text == "true"
        if token.kind == "string" and schema.success_type == "string":
            text = token.text[1:-1]
            return {"True": True, "False": False}.get(text)  # the classic schema stores .NET's spelling
        raise QueryError("SemanticError", f"Cannot compare '{schema.success}' ({schema.success_type}) with "
                                          f"{token.text}.")

    def summarize(self, query: Query) -> None:
        names: set[str] = set()
        while True:
            aggregate = self.aggregate(query)
            if aggregate.name in names:
                raise QueryError("SemanticError", f"The column name '{aggregate.name}' is used twice.")
            names.add(aggregate.name)
            query.aggregates.append(aggregate)
            if not self.accept(","):
                break
        if self.accept("by"):
            while True:
                group = self.group(query)
                if group.name in names:
                    raise QueryError("SemanticError", f"The column name '{group.name}' is used twice.")
                names.add(group.name)
                query.groups.append(group)
                if not self.accept(","):
                    break

    def aggregate(self, query: Query) -> Aggregate:
        alias = None
        if self.peek(1) is not None and self.peek(1).text == "=" and self.peek().kind == "name":
            alias = self.take(kind="name").text
            self.take("=")
        function = self.take(kind="name").text
        self.take("(")
        if function == "count":
            self.take(")")
            return Aggregate(alias or "count_", "count")
        if function == "countif":
            where = self.predicate(query)
            self.take(")")
            return Aggregate(alias or "countif_", "countif", where)
        if function in ("sum", "sumif"):
            column = self.take(kind="name").text
            if column != query.schema.item_count:
                raise QueryError("SemanticError", f"The emulator sums only '{query.schema.item_count}' "
                                                  f"(found '{column}').")
            where = None
            if function == "sumif":
                self.take(",")
                where = self.predicate(query)
            self.take(")")
            return Aggregate(alias or f"{function}_{column}", function, where)
        raise QueryError("SyntaxError", f"The emulator does not compute '{function}()': it answers count(), "
                                        f"countif(), sum(ItemCount) and sumif(ItemCount, ...).")

    def group(self, query: Query) -> Group:
        schema = query.schema
        token = self.take(kind="name")
        if token.text == "bin":
            self.take("(")
            column = self.take(kind="name").text
            if column != schema.time:
                raise QueryError("SemanticError", f"The emulator bins only '{schema.time}' (found '{column}').")
            self.take(",")
            size = _timespan(self.take(kind="timespan").text)
            self.take(")")
            if size <= 0:
                raise QueryError("SemanticError", "bin(): the bin size must be positive.")
            return Group(schema.time, "datetime", lambda row: (row.time // size) * size)
        if schema.success is not None and token.text == schema.success:
            if schema.success_type == "bool":
                return Group(schema.success, "bool", lambda row: row.success)
            return Group(schema.success, "string", lambda row: "True" if row.success else "False")
        raise QueryError("SemanticError", f"Failed to resolve scalar expression named '{token.text}'")


def parse(text: str, tables: set[str], now: float) -> Query:
    """The query `text` as the emulator runs it, with `ago()` and `now()` taken at `now` (epoch seconds);
    `tables` are the table names the query's scope provides. Raises QueryError for anything else."""
    if not text.strip():
        raise QueryError("SyntaxError", "The query is empty.")
    return _Parser(text, tables, now).query()
