"""Loading a ruleset file: YAML with positions → checked, frozen IR (``ir.Ruleset``) and its tables.

Every problem is collected as a ``Diagnostic`` (file:line:col, code, hint) and the loader raises one
``RulesetError`` listing them all. Nothing the author wrote is executed: expressions go through ``check.py``.
"""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import yaml
from yaml.constructor import ConstructorError, SafeConstructor

from adjudicator import codes as catalogue
from adjudicator import dates, schema
from adjudicator.errors import Diagnostic, RulesetError
from adjudicator.rules import ir, tables
from adjudicator.rules.check import NULL, Env, ExprChecker, T, parse_duration, rate_bp
from adjudicator.rules.functions import BOOL, DATE, LIST, NUM, RATE, STR

TOP_KEYS = ("ruleset", "version", "title", "kind", "scope", "effective", "tables", "params", "codes",
            "bypass_modifiers", "rules", "benefits", "tests", "description")
RULE_KEYS = ("id", "title", "when", "reason", "liability", "note", "description")
ACTIONS = ("deny", "pend", "flag", "limit_quantity", "cap_amount", "set")
TABLE_KEYS = ("path", "key", "valid", "pair", "within", "types")
ID = re.compile(r"^[a-z0-9._-]+$")
RULE_ID = re.compile(r"^[A-Za-z0-9._-]+$")


# --- YAML with positions ------------------------------------------------------------------------------------------

class Loc(dict):
    """A YAML mapping that remembers where each key and value starts (1-based line, col)."""

    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self.key_pos: dict = {}
        self.val_pos: dict = {}
        self.pos = (1, 1)


class LocList(list):
    """A YAML sequence that remembers where each item starts."""

    def __init__(self, *a):
        super().__init__(*a)
        self.item_pos: list = []
        self.pos = (1, 1)


def _mark(node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _value_pos(node) -> tuple[int, int]:
    line, col = _mark(node)
    if isinstance(node, yaml.ScalarNode) and node.style in (">", "|"):
        return line + 1, col + 2  # block scalar text starts on the next line
    if isinstance(node, yaml.ScalarNode) and node.style in ("'", '"'):
        return line, col + 1
    return line, col


def _convert(node, ctor: SafeConstructor):
    if isinstance(node, yaml.MappingNode):
        out = Loc()
        out.pos = _mark(node)
        for k, v in node.value:
            key = _convert(k, ctor)
            if isinstance(key, list | dict):
                raise ConstructorError(None, None, "a mapping key must be a plain value", k.start_mark)
            out[key] = _convert(v, ctor)
            out.key_pos[key] = _mark(k)
            out.val_pos[key] = _value_pos(v)
        return out
    if isinstance(node, yaml.SequenceNode):
        out = LocList(_convert(v, ctor) for v in node.value)
        out.item_pos = [_value_pos(v) for v in node.value]
        out.pos = _mark(node)
        return out
    return ctor.construct_object(node, deep=True)


def load_yaml(text: str, file: str) -> tuple[Loc | None, list[Diagnostic]]:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        if node is None:
            return None, [Diagnostic(file, 1, 1, "E001", "the ruleset file is empty")]
        data = _convert(node, SafeConstructor())
    except yaml.MarkedYAMLError as e:
        m = e.problem_mark or e.context_mark
        line, col = (m.line + 1, m.column + 1) if m else (1, 1)
        return None, [Diagnostic(file, line, col, "E001", f"malformed YAML: {e.problem or e}")]
    except (yaml.YAMLError, ValueError, TypeError) as e:
        return None, [Diagnostic(file, 1, 1, "E001", f"malformed YAML: {e}")]
    if not isinstance(data, Loc):
        return None, [Diagnostic(file, 1, 1, "E002", "a ruleset is a YAML mapping (ruleset:, version:, rules: ...)")]
    return data, []


# --- the loader ---------------------------------------------------------------------------------------------------

@dataclass
class Loaded:
    """A ruleset and the typed frames of its tables (what the backends compile)."""

    ruleset: ir.Ruleset
    tables: dict[str, pl.DataFrame] = field(default_factory=dict)
    source_text: str = ""


def base_fields(kind: str) -> dict[str, dict[str, T]]:
    def from_schema(cols, required=()):
        out = {}
        for c, t in cols.items():
            typ = {pl.String: STR, pl.Int64: NUM, pl.Date: DATE, pl.Boolean: BOOL}.get(t, LIST)
            out[c] = T(typ, c not in required)
        return out

    fields = {
        "line": from_schema(schema.CLAIM_LINES, schema.CLAIM_LINES_REQUIRED)
        | {"allowed_quantity": T(NUM, False), "allowed_amount": T(NUM, False), "submission": T(STR, False)},
        "claim": {"line_count": T(NUM, False), "total_billed": T(NUM, False), "length_of_stay": T(NUM),
                  "codes": T(LIST, False)},
        "member": from_schema(schema.MEMBERS) | {"age": T(NUM)},
        "coverage": from_schema(schema.COVERAGE),
        "supplementary": from_schema(schema.COVERAGE) | {"valid": T(BOOL)},
        "provider": from_schema(schema.PROVIDERS),
    }
    if kind == "supplementary":
        fields["basic"] = {k: T(NUM, False) for k in
                           ("allowed_amount", "insurer_paid", "member_share", "member_liability", "deductible")}
    if kind == "prescription":  # the prescription a dispensing or claim event refers to (adjudicator/events.py)
        fields["rx"] = {"exists": T(BOOL), "event": T(STR), "service_code": T(STR), "quantity": T(NUM),
                        "prescribed_date": T(DATE), "expires": T(DATE), "dispensed_before": T(NUM),
                        "dispense_count": T(NUM), "pharmacies_before": T(LIST), "dispensed_allowed": T(NUM),
                        "claimed_before": T(NUM)}
    return fields


class Loader:
    def __init__(self, path: Path, text: str, shown: str):
        self.path, self.text, self.file = path, text, shown
        self.diags: list[Diagnostic] = []

    def err(self, pos, code: str, msg: str, hint: str | None = None) -> None:
        line, col = pos if pos else (1, 1)
        self.diags.append(Diagnostic(self.file, line, col, code, msg, hint))

    def unknown_keys(self, m: Loc, allowed, what: str) -> None:
        for k in m:
            if k not in allowed:
                close = difflib.get_close_matches(str(k), [str(a) for a in allowed], n=1)
                self.err(m.key_pos.get(k), "E002", f"unknown key '{k}' in {what}",
                         f"did you mean '{close[0]}'?" if close else None)

    def expr(self, env: Env, value, pos, context: str, want: str | None = None):
        line, col = pos if pos else (1, 1)
        return ExprChecker(env, self.file, line, col - 1, context, self.diags).check(value, want)

    def date(self, value, pos, what: str) -> dt.date | None:
        try:
            return dates.parse_date(value)
        except (ValueError, TypeError):
            self.err(pos, "E110", f"{what}: {value!r} is not a date (ISO 2025-03-21 or Solar Hijri 1404/01/01)")
            return None

    # -- sections ------------------------------------------------------------------------------------------------
    def load(self) -> Loaded:
        data, self.diags = load_yaml(self.text, self.file)
        if data is None:
            raise RulesetError(self.diags)
        self.unknown_keys(data, TOP_KEYS, "the ruleset")
        rid = data.get("ruleset")
        if not isinstance(rid, str) or not ID.match(rid):
            self.err(data.val_pos.get("ruleset", data.pos), "E002", "'ruleset:' must be an id of [a-z0-9._-]+")
            rid = "invalid"
        version = data.get("version")
        if version is None:
            self.err(data.pos, "E002", "'version:' is required")
        kind = data.get("kind", "basic")
        if kind not in ("basic", "supplementary", "prescription"):
            self.err(data.val_pos.get("kind"), "E002", f"kind must be basic, supplementary or prescription, "
                                                       f"got {kind!r}")
            kind = "basic"
        eff = data.get("effective") or {}
        eff_from = eff_to = None
        if eff:
            if not isinstance(eff, Loc):
                self.err(data.val_pos.get("effective"), "E002", "effective: must be {from: ..., to: ...}")
            else:
                self.unknown_keys(eff, ("from", "to"), "effective")
                eff_from = self.date(eff["from"], eff.val_pos["from"], "effective.from") if "from" in eff else None
                eff_to = self.date(eff["to"], eff.val_pos["to"], "effective.to") if "to" in eff else None
        loaded_tables = self.tables(data.get("tables") or Loc(), data.val_pos.get("tables"))
        params = self.params(data.get("params") or Loc())
        codes = self.codes(data.get("codes") or [])
        known_codes = set(catalogue.CATALOGUE) | {c.code for c in codes}
        bypass = data.get("bypass_modifiers", ["59", "XE", "XS", "XP", "XU"])
        if not isinstance(bypass, list):
            self.err(data.val_pos.get("bypass_modifiers"), "E002", "bypass_modifiers must be a list")
            bypass = []
        fields = base_fields(kind)
        env_tables = {name: {c: T(tables.DSL_TYPE[t]) for c, t in lt.decl.columns}
                      for name, lt in loaded_tables.items()}
        declared = data.get("tables") if isinstance(data.get("tables"), dict) else {}
        failed = [n for n in declared if n not in loaded_tables]
        env_tables |= {n: None for n in failed}
        pair_tables = {n for n, lt in loaded_tables.items() if lt.decl.pair}
        pair_tables |= {n for n in failed if isinstance(declared[n], dict) and "pair" in declared[n]}
        scope = None
        if "scope" in data:
            # a scope is decided before any ruleset prepares the line: no claim.* and no member.age yet
            scope_fields = {k: v for k, v in fields.items() if k in ("line", "member", "coverage", "supplementary",
                                                                    "provider")}
            scope_fields["member"] = {k: v for k, v in scope_fields["member"].items() if k != "age"}
            scope_env = Env(scope_fields, {}, set(), params, allow_aggregates=False)
            scope, _ = self.expr(scope_env, data["scope"], data.val_pos["scope"], "in scope", BOOL)
        rules, env = self.rules(data.get("rules"), data.val_pos.get("rules"), fields, env_tables, pair_tables,
                                params, known_codes)
        if kind == "supplementary" and (env.aggregates or any(
                "pair(" in str(r.get("when", "")) for r in (data.get("rules") or []) if isinstance(r, dict))):
            self.err(data.val_pos.get("rules"), "E305", "a supplementary ruleset decides money on the basic result: "
                                                        "prior_count/prior_sum and pair() are not available in it")
        benefits = self.benefits(data.get("benefits") or {}, data.val_pos.get("benefits"), env, known_codes)
        examples = self.examples(data.get("tests") or [], data.val_pos.get("tests"))
        if self.diags:
            raise RulesetError(self.diags)
        rs = ir.Ruleset(
            id=rid, version=str(version), title=self.text_of(data.get("title")), kind=kind, scope=scope,
            effective_from=eff_from, effective_to=eff_to,
            tables=tuple(lt.decl for lt in loaded_tables.values()),
            params=tuple(sorted(params.items())), codes=tuple(codes),
            bypass_modifiers=tuple(str(b) for b in bypass), rules=tuple(rules), benefits=benefits,
            tests=tuple(examples), source_path=self.file,
        )
        rs = rs.model_copy(update={"digest": digest(rs)})
        return Loaded(rs, {n: lt.frame for n, lt in loaded_tables.items()}, self.text)

    def text_of(self, v) -> ir.Text:
        if isinstance(v, dict):
            return ir.Text(en=str(v.get("en", "")), fa=str(v.get("fa", "")))
        return ir.Text(en=str(v) if v else "")

    def tables(self, decls, pos) -> dict[str, tables.LoadedTable]:
        out = {}
        if not isinstance(decls, Loc):
            self.err(pos, "E304", "tables: must be a mapping of name → {path, key | pair, valid?}")
            return out
        for name, d in decls.items():
            p = decls.val_pos.get(name)
            if not isinstance(d, Loc) or "path" not in d:
                self.err(p, "E304", f"table '{name}' needs at least path:")
                continue
            self.unknown_keys(d, TABLE_KEYS, f"table '{name}'")
            key: list[tuple[str, str]] = []
            k = d.get("key", [])
            if isinstance(k, dict):
                for tcol, expr in k.items():
                    col = str(expr)
                    col = col[5:] if col.startswith("line.") else col
                    key.append((str(tcol), col))
            elif isinstance(k, list):
                key = [(str(c), str(c)) for c in k]
            pair = d.get("pair")
            if pair is not None and not (isinstance(pair, list) and len(pair) == 2):
                self.err(d.val_pos.get("pair"), "E304", f"table '{name}': pair: must be [code_1, code_2]")
                continue
            if not key and not pair:
                self.err(p, "E304", f"table '{name}' needs key: [...] or pair: [code_1, code_2]")
                continue
            valid = d.get("valid")
            if valid is not None and not (isinstance(valid, list) and len(valid) == 2):
                self.err(d.val_pos.get("valid"), "E304", f"table '{name}': valid: must be [from_column, to_column]")
                continue
            within = d.get("within", "day")
            if within not in ("day", "claim"):
                self.err(d.val_pos.get("within"), "E304", f"table '{name}': within: must be day or claim")
                continue
            types = dict(d.get("types") or {})
            bad = [t for t in types.values() if t not in tables.TYPES]
            if bad:
                self.err(d.val_pos.get("types"), "E304", f"table '{name}': unknown type {bad[0]!r} "
                                                          f"(int, str, bool, date, list)")
                continue
            fcols = {c for cols in base_fields("supplementary").values() for c in cols}
            for _, col in key:
                ns, _, fld = col.partition(".")
                ok = col in schema.CLAIM_LINES or (fld and ns in base_fields("basic") and
                                                   fld in base_fields("basic")[ns])
                if not ok:
                    self.err(d.val_pos.get("key"), "E102", f"table '{name}': unknown key field '{col}'",
                             _close(col, [*schema.CLAIM_LINES, *fcols]))
            try:
                out[name] = tables.load(name, self.path.parent / str(d["path"]), key=tuple(key),
                                        valid=tuple(valid) if valid else None, pair=tuple(pair) if pair else None,
                                        pair_within=within, types=types, shown_path=str(d["path"]))
            except tables.TableProblem as e:
                self.err(d.val_pos.get("path"), e.code, str(e))
        return out

    def params(self, ps) -> dict[str, ir.Lit | ir.Rate]:
        out = {}
        if not isinstance(ps, Loc):
            self.err(None, "E002", "params: must be a mapping")
            return out
        for name, v in ps.items():
            if isinstance(v, str) and re.fullmatch(r"\d+(\.\d+)?\s*%", v.strip()):
                try:
                    out[name] = ir.Rate(bp=rate_bp(v.strip()[:-1].strip()))
                except ValueError as e:
                    self.err(ps.val_pos.get(name), "E110", str(e))
            elif isinstance(v, bool | int | float | str) or v is None:
                out[name] = ir.Lit(value=v)
            elif isinstance(v, dt.date):
                out[name] = ir.Lit(value=v)
            else:
                self.err(ps.val_pos.get(name), "E003", f"param '{name}' must be a number, a string, a rate or "
                                                       f"a date")
        return out

    def codes(self, cs) -> list[ir.CodeDecl]:
        out = []
        if not isinstance(cs, list):
            self.err(None, "E002", "codes: must be a list")
            return out
        for i, c in enumerate(cs):
            pos = cs.item_pos[i] if isinstance(cs, LocList) else None
            if not isinstance(c, dict):
                self.err(pos, "E205", f"code declaration {i + 1} must be a mapping {{code, severity, carc, en, fa}}")
                continue
            try:
                out.append(ir.CodeDecl(**dict(c)))
            except Exception as e:  # pydantic ValidationError: say which field
                self.err(pos, "E205", f"code declaration {dict(c).get('code', i)!r} is invalid: "
                                      f"{_first_error(e)}")
        return out

    def rules(self, rules, pos, fields, env_tables, pair_tables, params, known_codes):
        if not isinstance(rules, list) or not rules:
            self.err(pos, "E002", "rules: must be a non-empty list")
            return [], Env(fields, env_tables, pair_tables, params)
        entries = [(r, rules.item_pos[i]) for i, r in enumerate(rules)]
        set_by: dict[str, list[int]] = {}
        for i, (r, _) in enumerate(entries):
            if isinstance(r, Loc) and isinstance(r.get("set"), dict):
                for f in r["set"]:
                    set_by.setdefault(str(f), []).append(i)
        set_types: dict[str, T] = {}
        line_fields = dict(fields["line"])
        for f in set_by:
            if f == "member_share":
                line_fields[f] = T(RATE)
            elif f not in line_fields:
                line_fields[f] = T(NULL)
            else:
                line_fields[f] = line_fields[f]
        fields = {**fields, "line": line_fields}
        aggregates: list[ir.Aggregate] = []
        out, seen = [], {}
        for i, (r, rpos) in enumerate(entries):
            if not isinstance(r, Loc):
                self.err(rpos, "E002", "each rule is a mapping with id:, when: and one action")
                continue
            rid = r.get("id")
            if not isinstance(rid, str | int) or not RULE_ID.match(str(rid)):
                self.err(r.pos, "E002", "a rule needs id: of letters, digits, '.', '_' or '-'")
                rid = f"#{i + 1}"
            rid = str(rid)
            if rid in seen:
                self.err(r.key_pos.get("id", r.pos), "E203", f"duplicate rule id '{rid}'",
                         f"first defined on line {seen[rid][0]}")
            else:
                seen[rid] = r.key_pos.get("id", r.pos)
            self.unknown_keys(r, RULE_KEYS + ACTIONS, f"rule {rid}")
            acts = [a for a in ACTIONS if a in r]
            if len(acts) != 1:
                what = "no action" if not acts else f"{len(acts)} actions ({', '.join(acts)})"
                self.err(r.pos, "E210" if acts else "E201", f"rule {rid} has {what}; a rule has exactly one",
                         f"one of: {', '.join(ACTIONS)}")
                continue
            action = acts[0]
            set_later = {f: entries[min(j for j in idx if j >= i)][0].get("id", "?")
                         for f, idx in set_by.items() if all(j >= i for j in idx)}
            env = Env(fields, env_tables, pair_tables, params, set_later={k: str(v) for k, v in set_later.items()},
                      aggregates=aggregates, set_fields=set(set_by))
            ctx = f"in rule {rid}"
            when = None
            if "when" in r:
                when, _ = self.expr(env, r["when"], r.val_pos["when"], ctx, BOOL)
            reason, value, sets = None, None, ()
            apos = r.val_pos[action]
            if action in ("deny", "pend", "flag"):
                reason = str(r[action])
                if "reason" in r:
                    self.err(r.key_pos["reason"], "E202", f"rule {rid}: {action}: already names the reason code")
            else:
                reason = r.get("reason")
                if action in ("limit_quantity", "cap_amount"):
                    if reason is None:
                        self.err(r.pos, "E206", f"rule {rid}: {action} needs reason: CODE")
                    value, _ = self.expr(env, r[action], apos, ctx, NUM)
                else:
                    if not isinstance(r["set"], dict) or not r["set"]:
                        self.err(apos, "E002", f"rule {rid}: set: must be a mapping field → expression")
                        continue
                    pairs = []
                    for f, e in r["set"].items():
                        f = str(f)
                        if f in schema.CLAIM_LINES or f in ("allowed_quantity", "allowed_amount"):
                            self.err(r["set"].key_pos.get(f), "E207",
                                     f"rule {rid}: set cannot write the input field 'line.{f}'",
                                     "use limit_quantity or cap_amount for the running amounts")
                            continue
                        node, t = self.expr(env, e, r["set"].val_pos.get(f), ctx,
                                            RATE if f == "member_share" else None)
                        if node is None:
                            continue
                        prev = set_types.get(f)
                        if prev and t and prev.type != t.type and NULL not in (prev.type, t.type):
                            self.err(r["set"].val_pos.get(f), "E107",
                                     f"rule {rid}: line.{f} was set as {prev.type}, now as {t.type}")
                        set_types.setdefault(f, t)
                        line_fields[f] = T(t.type if t.type != NULL else line_fields[f].type)
                        pairs.append((f, node))
                    sets = tuple(pairs)
            if reason is not None:
                reason = str(reason)
                if reason not in known_codes:
                    self.err(apos if action in ("deny", "pend", "flag") else r.val_pos.get("reason"), "E205",
                             f"unknown reason code '{reason}' in rule {rid}",
                             _close(reason, known_codes, "declare it under codes: or"))
            liability = r.get("liability", "provider")
            if liability not in ("provider", "member"):
                self.err(r.val_pos.get("liability"), "E002", f"rule {rid}: liability must be provider or member")
                liability = "provider"
            if action in ("set",) and "liability" in r:
                self.err(r.key_pos.get("liability"), "E002", f"rule {rid}: set has no liability")
            try:
                out.append(ir.Rule(id=rid, title=self.text_of(r.get("title")), when=when, action=action,
                                   reason=reason, value=value, sets=sets, liability=liability,
                                   pos=ir.Pos(line=r.pos[0], col=r.pos[1])))
            except Exception as e:  # a node left None by an earlier diagnostic
                if not self.diags:
                    self.err(r.pos, "E002", f"rule {rid}: {_first_error(e)}")
        final = Env(fields, env_tables, pair_tables, params, aggregates=aggregates, set_fields=set(set_by))
        return out, final

    def benefits(self, b, pos, env: Env, known_codes) -> ir.Benefits:
        if not b:
            return ir.Benefits()
        if not isinstance(b, Loc):
            self.err(pos, "E401", "benefits: must be a mapping")
            return ir.Benefits()
        self.unknown_keys(b, ("member_share", "deductible", "caps"), "benefits")
        benv = Env(env.fields, env.tables, env.pair_tables, env.params, allow_aggregates=False,
                   set_fields=env.set_fields)
        shares, deds, caps = [], [], []
        for i, row in enumerate(b.get("member_share") or []):
            p = b["member_share"].item_pos[i]
            if not isinstance(row, Loc) or "rate" not in row:
                self.err(p, "E401", "a member_share row is {when?: condition, rate: N%}")
                continue
            self.unknown_keys(row, ("when", "rate"), "member_share row")
            when = self.expr(benv, row["when"], row.val_pos["when"], "in member_share", BOOL)[0] if "when" in row \
                else None
            rate, _ = self.expr(benv, row["rate"], row.val_pos["rate"], "in member_share rate", RATE)
            if rate is not None:
                shares.append(ir.ShareRow(when=when, rate=rate))
        for i, row in enumerate(b.get("deductible") or []):
            p = b["deductible"].item_pos[i]
            if not isinstance(row, Loc) or "per" not in row or "amount" not in row:
                self.err(p, "E401", "a deductible row is {per: [...], amount: RIALS, when?: condition}")
                continue
            self.unknown_keys(row, ("per", "amount", "when"), "deductible row")
            when = self.expr(benv, row["when"], row.val_pos["when"], "in deductible", BOOL)[0] if "when" in row \
                else None
            amount = self.money(row["amount"], row.val_pos["amount"], env, "deductible amount")
            per = self.per(row["per"], row.val_pos["per"], env)
            if amount is not None and per is not None:
                deds.append(ir.DeductibleRow(per=per, amount=amount, when=when))
        ids = set()
        for i, row in enumerate(b.get("caps") or []):
            p = b["caps"].item_pos[i]
            if not isinstance(row, Loc) or not {"id", "per", "amount"} <= set(row):
                self.err(p, "E401", "a cap is {id, per: [...], amount: RIALS, where?: condition, reason?: CODE}")
                continue
            self.unknown_keys(row, ("id", "per", "amount", "where", "reason"), "cap")
            cid = str(row["id"])
            if cid in ids:
                self.err(p, "E203", f"duplicate cap id '{cid}'")
            ids.add(cid)
            where = self.expr(benv, row["where"], row.val_pos["where"], f"in cap {cid}", BOOL)[0] \
                if "where" in row else None
            amount = self.money(row["amount"], row.val_pos["amount"], env, f"cap {cid} amount")
            per = self.per(row["per"], row.val_pos["per"], env)
            reason = str(row.get("reason", "BENEFIT_MAX_REACHED"))
            if reason not in known_codes:
                self.err(row.val_pos.get("reason"), "E205", f"unknown reason code '{reason}' in cap {cid}",
                         _close(reason, known_codes, "declare it under codes: or"))
            if amount is not None and per is not None:
                caps.append(ir.Cap(id=cid, per=per, amount=amount, where=where, reason=reason))
        return ir.Benefits(member_share=tuple(shares), deductible=tuple(deds), caps=tuple(caps))

    def money(self, v, pos, env: Env, what: str) -> int | None:
        if isinstance(v, str) and v.startswith("params."):
            p = env.params.get(v[7:])
            v = p.value if isinstance(p, ir.Lit) else None
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            self.err(pos, "E003", f"{what} must be a whole non-negative number of Rials, got {v!r}")
            return None
        return v

    def per(self, v, pos, env: Env) -> tuple[str, ...] | None:
        from adjudicator.rules.check import PSEUDO_KEYS
        if not isinstance(v, list) or not v:
            self.err(pos, "E401", "per: must be a non-empty list of line columns")
            return None
        out = []
        for k in v:
            k = str(k)
            k = k[5:] if k.startswith("line.") else k
            if k not in schema.CLAIM_LINES and k not in PSEUDO_KEYS:
                self.err(pos, "E102", f"unknown key '{k}' in per:", _close(k, [*schema.CLAIM_LINES, *PSEUDO_KEYS]))
                return None
            out.append(k)
        return tuple(out)

    def examples(self, ts, pos) -> list[ir.Example]:
        out = []
        if not isinstance(ts, list):
            self.err(pos, "E501", "tests: must be a list")
            return out
        for i, t in enumerate(ts):
            p = ts.item_pos[i]
            try:
                out.append(ir.Example(**_plain(t)))
            except Exception as e:
                self.err(p, "E501", f"test {i + 1} is invalid: {_first_error(e)}")
        return out


def _plain(v):
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_plain(x) for x in v]
    return v


def _first_error(e: Exception) -> str:
    errs = getattr(e, "errors", None)
    if callable(errs):
        first = errs()[0]
        return f"{'.'.join(str(x) for x in first['loc'])}: {first['msg']}"
    return str(e)


def _close(word: str, options, lead: str = "") -> str | None:
    close = difflib.get_close_matches(word, list(options), n=1)
    if close:
        return f"{lead + ' ' if lead else ''}did you mean '{close[0]}'?"
    return None


def digest(rs: ir.Ruleset) -> str:
    """Hash of the normalised IR (tables carry their content hashes): names this exact ruleset version."""
    body = rs.model_dump(mode="json", exclude={"digest": True, "source_path": True, "tests": True,
                                               "rules": {"__all__": {"pos"}}})
    text = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def load_file(path: str | Path) -> Loaded:
    """Load and check one ruleset file; raise RulesetError with every diagnostic."""
    p = Path(path)
    shown = str(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise RulesetError([Diagnostic(shown, 1, 1, "E000", f"cannot read the ruleset file: {e}")]) from None
    return Loader(p, text, shown).load()


def parse_within(within: str | None) -> tuple[int, str] | None:
    return parse_duration(within) if within else None
