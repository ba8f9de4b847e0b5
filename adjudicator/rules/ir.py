"""The intermediate representation of a ruleset: plain, frozen data that every backend translates.

Nodes never evaluate themselves; ``to_polars`` and ``to_python`` are translators over this tree. Expressions form a
union discriminated on the ``node`` tag. Rates are basis points (``Rate``), money and quantities integers. A ruleset's
``digest`` hashes the normalised IR together with the contents of its tables, so it names one exact version.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field


class Node(BaseModel):
    """Base of every IR node: frozen, unknown keys rejected."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Pos(Node):
    """Where a node came from in the ruleset file (1-based)."""

    line: int = 0
    col: int = 0


# --- expressions --------------------------------------------------------------------------------------------------


class Lit(Node):
    """A literal: number, string, boolean, date or null."""

    node: Literal["lit"] = "lit"
    value: int | float | str | bool | dt.date | None


class Rate(Node):
    """A percentage literal in basis points (30% = 3000)."""

    node: Literal["rate"] = "rate"
    bp: int


class ListLit(Node):
    """A list of literals (the right side of ``in``)."""

    node: Literal["list"] = "list"
    items: tuple[Lit, ...]


class Name(Node):
    """A qualified column: ``line.quantity`` → ns='line', field='quantity'. ``column`` is the frame column name."""

    node: Literal["name"] = "name"
    ns: str
    field: str

    @property
    def column(self) -> str:
        return self.field if self.ns == "line" else f"{self.ns}.{self.field}"


class Missing(Node):
    """``T is missing`` (negate=False) or ``T is not missing``."""

    node: Literal["missing"] = "missing"
    table: str
    negate: bool = False


class Not(Node):
    """Logical negation (three-valued)."""

    node: Literal["not"] = "not"
    arg: "Expr"


class Neg(Node):
    """Arithmetic negation."""

    node: Literal["neg"] = "neg"
    arg: "Expr"


class BoolOp(Node):
    """``and`` / ``or`` over two or more operands (Kleene logic)."""

    node: Literal["boolop"] = "boolop"
    op: Literal["and", "or"]
    args: tuple["Expr", ...]


class BinOp(Node):
    """Arithmetic: + - * / //, and ``*%`` (a number times a rate in basis points, rounded half up). x/0 is null."""

    node: Literal["binop"] = "binop"
    op: Literal["+", "-", "*", "/", "//", "*%"]
    left: "Expr"
    right: "Expr"


class Compare(Node):
    """A comparison; null on either side gives null."""

    node: Literal["compare"] = "compare"
    op: Literal["==", "!=", "<", "<=", ">", ">="]
    left: "Expr"
    right: "Expr"


class IsNull(Node):
    """``x is null`` (negate=False) or ``x is not null``."""

    node: Literal["isnull"] = "isnull"
    arg: "Expr"
    negate: bool = False


class In(Node):
    """``x in [..]`` / ``x in line.list_column`` and their negations."""

    node: Literal["in"] = "in"
    item: "Expr"
    container: "Expr"
    negate: bool = False


class IfElse(Node):
    """``then if cond else orelse``; a null condition takes ``orelse`` (as polars' when/then does)."""

    node: Literal["ifelse"] = "ifelse"
    cond: "Expr"
    then: "Expr"
    orelse: "Expr"


class Call(Node):
    """A call of a catalogue function (rules/functions.py)."""

    node: Literal["call"] = "call"
    fn: str
    args: tuple["Expr", ...]


class Aggregate(Node):
    """``prior_count`` / ``prior_sum`` over the member's earlier lines; ``index`` numbers it within the ruleset."""

    node: Literal["aggregate"] = "aggregate"
    kind: Literal["prior_count", "prior_sum"]
    value: "Expr | None" = None
    per: tuple[str, ...]
    within: str | None = None
    where: "Expr | None" = None
    index: int = 0


class PairRef(Node):
    """``pair(T)``: a line with the pair's first code exists in the same group (day or claim)."""

    node: Literal["pair"] = "pair"
    table: str


Expr = Annotated[
    Union[Lit, Rate, ListLit, Name, Missing, Not, Neg, BoolOp, BinOp, Compare, IsNull, In, IfElse, Call, Aggregate,
          PairRef],
    Field(discriminator="node"),
]

for _cls in (Not, Neg, BoolOp, BinOp, Compare, IsNull, In, IfElse, Call, Aggregate):
    _cls.model_rebuild()


# --- ruleset ------------------------------------------------------------------------------------------------------


class Text(Node):
    """A bilingual title or message."""

    en: str = ""
    fa: str = ""


class Table(Node):
    """A reference table: joined by ``key`` (table column → line expression column), optionally versioned by date."""

    name: str
    path: str
    key: tuple[tuple[str, str], ...] = ()      # (table column, frame column)
    valid: tuple[str, str] | None = None       # (from column, to column)
    pair: tuple[str, str] | None = None        # (code_1 column, code_2 column)
    pair_within: Literal["day", "claim"] = "day"
    columns: tuple[tuple[str, str], ...] = ()  # (column, type) after loading: int|str|bool|date|list
    content_hash: str = ""


class CodeDecl(Node):
    """A reason code a ruleset adds to the catalogue."""

    code: str
    severity: Literal["deny", "pend", "adjust", "info"]
    carc: str
    en: str
    fa: str
    group: str = "CO"


class Rule(Node):
    """One rule: a condition and exactly one action."""

    id: str
    title: Text = Text()
    when: Expr | None = None
    action: Literal["deny", "pend", "flag", "limit_quantity", "cap_amount", "set"]
    reason: str | None = None                   # reason code (for deny/pend/flag: the code itself)
    value: Expr | None = None                   # limit_quantity / cap_amount value
    sets: tuple[tuple[str, Expr], ...] = ()     # set: field → expression
    liability: Literal["provider", "member"] = "provider"
    pos: Pos = Pos()


class ShareRow(Node):
    """A member-share (coinsurance) row: the first whose ``when`` holds applies."""

    when: Expr | None = None
    rate: Expr


class DeductibleRow(Node):
    """A deductible: ``amount`` per group of ``per`` keys, consumed before the insurer pays."""

    per: tuple[str, ...]
    amount: int
    when: Expr | None = None


class Cap(Node):
    """A benefit cap: the insurer pays at most ``amount`` per group; the excess is the member's."""

    id: str
    per: tuple[str, ...]
    amount: int
    where: Expr | None = None
    reason: str = "BENEFIT_MAX_REACHED"


class Benefits(Node):
    """The money rules applied after the edits."""

    member_share: tuple[ShareRow, ...] = ()
    deductible: tuple[DeductibleRow, ...] = ()
    caps: tuple[Cap, ...] = ()


class Example(Node):
    """An embedded test case: inputs and the expected outcome."""

    name: str
    line: dict
    member: dict = {}
    coverage: dict = {}
    supplementary: dict = {}
    provider: dict = {}
    basic: dict = {}
    history: tuple[dict, ...] = ()
    claim_lines: tuple[dict, ...] = ()
    expect: dict


class Ruleset(Node):
    """A checked ruleset: the unit both backends compile."""

    id: str
    version: str
    title: Text = Text()
    kind: Literal["basic", "supplementary", "prescription"] = "basic"
    scope: Expr | None = None
    effective_from: dt.date | None = None
    effective_to: dt.date | None = None
    tables: tuple[Table, ...] = ()
    params: tuple[tuple[str, Lit | Rate], ...] = ()
    codes: tuple[CodeDecl, ...] = ()
    bypass_modifiers: tuple[str, ...] = ("59", "XE", "XS", "XP", "XU")
    rules: tuple[Rule, ...] = ()
    benefits: Benefits = Benefits()
    tests: tuple[Example, ...] = ()
    source_path: str = ""
    digest: str = ""

    @property
    def ref(self) -> str:
        return f"{self.id}@{self.version}"

    def table(self, name: str) -> Table:
        return next(t for t in self.tables if t.name == name)
