"""Validation of function bodies: the spec appendix's algorithm with operand and control stacks.

The operand stack holds value type strings, ``None`` standing for the unknown type of the
polymorphic stack after ``unreachable``/``br``/``return``/``throw``. Instructions with a
plain signature (``OpInfo.params``/``results``) and no immediates to check take an inline
fast path in ``validate_body``; every other instruction has a rule in ``RULES`` keyed by
mnemonic. While walking, the stack height before each instruction is recorded for the
compilers.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import ValidationError
from ..spec.opcodes import OPS, OpInfo
from ..spec.types import HEAP_TO_REF, REF_TYPES, FuncType, GlobalType, TableType

__all__ = ["CodeContext", "Frame", "validate_body", "tables_for", "RULES"]

_REFS = frozenset(REF_TYPES)
#: immediate kinds that need no check against the module
_FREE_IMMS = frozenset({"i32", "i64", "f32", "f64", "v128", "zero"})


@dataclass(slots=True)
class CodeContext:
    """The module-wide part of the spec's validation context C."""

    types: list[FuncType]
    funcs: list[FuncType]
    tables: list[TableType]
    mems: list
    globals: list[GlobalType]
    tags: list[FuncType]
    elems: list[str]
    ndatas: int
    refs: set[int]
    features: frozenset[str]
    sigs: dict = field(default_factory=dict)    # FuncType -> (params list, results list)
    multi_value: bool = True

    def sig(self, ft: FuncType) -> tuple[list[str], list[str]]:
        """A function type's params and results as lists (the stack compares with lists)."""
        s = self.sigs.get(ft)
        if s is None:
            s = self.sigs[ft] = (list(ft.params), list(ft.results))
        return s


class Frame:
    """A control frame: ``labels`` are the types a branch to it carries."""

    __slots__ = ("kind", "start", "end", "height", "unreachable", "labels")

    def __init__(self, kind: str, start: list[str], end: list[str], height: int):
        self.kind = kind
        self.start = start
        self.end = end
        self.height = height
        self.unreachable = False
        self.labels = start if kind == "loop" else end


class State:
    """The operand and control stacks of the function being validated."""

    __slots__ = ("ctx", "stk", "ctrl", "base", "locals", "results")

    def __init__(self, ctx: CodeContext, local_types: list[str], results: list[str]):
        self.ctx = ctx
        self.stk: list = []
        self.ctrl: list[Frame] = [Frame("func", [], results, 0)]
        self.base = 0
        self.locals = local_types
        self.results = results


def _mismatch(expected, stk: list, height: int) -> ValidationError:
    have = stk[max(height, len(stk) - len(expected)):]
    return ValidationError(
        f"type mismatch: instruction requires [{' '.join(expected)}] "
        f"but stack has [{' '.join(t or '_' for t in have)}]")


def pop_vals(v: State, expected: list[str]) -> list:
    """Pop ``expected`` (topmost last); returns the popped types, None for unknown ones.

    The result may be ``expected`` itself: callers must not mutate it.
    """
    n = len(expected)
    if not n:
        return []
    stk = v.stk
    f = v.ctrl[-1]
    h = f.height
    if len(stk) - n >= h and stk[-n:] == expected:
        del stk[len(stk) - n:]
        return expected
    avail = len(stk) - h
    if avail < n and not f.unreachable:
        raise _mismatch(expected, stk, h)
    got = [None] * n
    for i in range(1, min(n, avail) + 1):
        a = stk[-i]
        t = expected[-i]
        if a is not None and a != t:
            raise _mismatch(expected, stk, h)
        got[-i] = a
    if avail > 0:
        del stk[len(stk) - min(n, avail):]
    return got


def pop_val(v: State) -> str | None:
    """Pop any one value (None when it is unknown)."""
    f = v.ctrl[-1]
    if len(v.stk) == f.height:
        if f.unreachable:
            return None
        raise ValidationError("type mismatch: instruction requires a value but stack is empty")
    return v.stk.pop()


def pop_i32(v: State) -> None:
    stk = v.stk
    if len(stk) > v.base and stk[-1] == "i32":
        stk.pop()
    else:
        pop_vals(v, ["i32"])


def push_ctrl(v: State, kind: str, start: list[str], end: list[str]) -> None:
    v.ctrl.append(Frame(kind, start, end, len(v.stk)))
    v.base = len(v.stk)
    v.stk.extend(start)


def pop_ctrl(v: State) -> Frame:
    f = v.ctrl[-1]
    if f.end:
        pop_vals(v, f.end)
    if len(v.stk) != f.height:
        raise ValidationError("type mismatch: values remain on the stack at the end of a block")
    v.ctrl.pop()
    v.base = v.ctrl[-1].height if v.ctrl else 0
    return f


def set_unreachable(v: State) -> None:
    f = v.ctrl[-1]
    del v.stk[f.height:]
    f.unreachable = True


def label(v: State, depth: int) -> Frame:
    if not 0 <= depth < len(v.ctrl):
        raise ValidationError(f"unknown label {depth}")
    return v.ctrl[-1 - depth]


def block_type(v: State, bt) -> tuple[list[str], list[str]]:
    if bt is None:
        return [], []
    if isinstance(bt, str):
        return [], [bt]
    types = v.ctx.types
    if not 0 <= bt < len(types):
        raise ValidationError(f"unknown type {bt}")
    sig = v.ctx.sig(types[bt])
    if not v.ctx.multi_value and (sig[0] or len(sig[1]) > 1):
        raise ValidationError("invalid result arity")
    return sig


def _index(seq: list, idx: int, what: str):
    if not 0 <= idx < len(seq):
        raise ValidationError(f"unknown {what} {idx}")
    return seq[idx]


# --- control --------------------------------------------------------------------------------

def _unreachable(v: State, args: tuple) -> None:
    set_unreachable(v)


def _nop(v: State, args: tuple) -> None:
    pass


def _block(v: State, args: tuple) -> None:
    params, results = block_type(v, args[0])
    if params:
        pop_vals(v, params)
    push_ctrl(v, "block", params, results)


def _loop(v: State, args: tuple) -> None:
    params, results = block_type(v, args[0])
    if params:
        pop_vals(v, params)
    push_ctrl(v, "loop", params, results)


def _if(v: State, args: tuple) -> None:
    params, results = block_type(v, args[0])
    pop_i32(v)
    if params:
        pop_vals(v, params)
    push_ctrl(v, "if", params, results)


def _else(v: State, args: tuple) -> None:
    if len(v.ctrl) < 2 or v.ctrl[-1].kind != "if":
        raise ValidationError("else without matching if")
    f = pop_ctrl(v)
    push_ctrl(v, "else", f.start, f.end)


def _end(v: State, args: tuple) -> None:
    if len(v.ctrl) < 2:
        raise ValidationError("unexpected end of the function body")
    f = v.ctrl[-1]
    if f.kind == "if" and f.start != f.end:
        raise ValidationError("type mismatch: if without else must leave its parameters")
    pop_ctrl(v)
    v.stk.extend(f.end)


def _try_table(v: State, args: tuple) -> None:
    params, results = block_type(v, args[0])
    ctx = v.ctx
    for c in args[1]:
        target = label(v, c.label).labels
        if c.kind in ("catch", "catch_ref"):
            carried = list(_index(ctx.tags, c.tag, "tag").params)
            if c.kind == "catch_ref":
                carried.append("exnref")
        else:
            carried = ["exnref"] if c.kind == "catch_all_ref" else []
        if carried != target:
            raise ValidationError(
                f"type mismatch: {c.kind} carries [{' '.join(carried)}] "
                f"but the label expects [{' '.join(target)}]")
    if params:
        pop_vals(v, params)
    push_ctrl(v, "try_table", params, results)


def _throw(v: State, args: tuple) -> None:
    params, _ = v.ctx.sig(_index(v.ctx.tags, args[0], "tag"))
    pop_vals(v, params)
    set_unreachable(v)


def _throw_ref(v: State, args: tuple) -> None:
    pop_vals(v, ["exnref"])
    set_unreachable(v)


def _br(v: State, args: tuple) -> None:
    pop_vals(v, label(v, args[0]).labels)
    set_unreachable(v)


def _br_if(v: State, args: tuple) -> None:
    types = label(v, args[0]).labels
    pop_i32(v)
    pop_vals(v, types)
    v.stk.extend(types)


def _br_table(v: State, args: tuple) -> None:
    pop_i32(v)
    default = label(v, args[1]).labels
    arity = len(default)
    for depth in args[0]:
        types = label(v, depth).labels
        if len(types) != arity:
            raise ValidationError("type mismatch: br_table targets differ in arity")
        v.stk.extend(pop_vals(v, types))
    pop_vals(v, default)
    set_unreachable(v)


def _return(v: State, args: tuple) -> None:
    pop_vals(v, v.results)
    set_unreachable(v)


def _call(v: State, args: tuple) -> None:
    params, results = v.ctx.sig(_index(v.ctx.funcs, args[0], "function"))
    if params:
        pop_vals(v, params)
    v.stk.extend(results)


def _return_call(v: State, args: tuple) -> None:
    _tail(v, v.ctx.sig(_index(v.ctx.funcs, args[0], "function")))


def _return_call_indirect(v: State, args: tuple) -> None:
    ctx = v.ctx
    if _index(ctx.tables, args[1], "table").elem != "funcref":
        raise ValidationError("type mismatch: return_call_indirect needs a funcref table")
    pop_i32(v)
    _tail(v, ctx.sig(_index(ctx.types, args[0], "type")))


def _tail(v: State, sig: tuple) -> None:
    """A tail call hands the callee's results straight to this function's caller."""
    params, results = sig
    if tuple(results) != tuple(v.results):
        raise ValidationError("type mismatch: tail call results differ from the function's")
    if params:
        pop_vals(v, params)
    set_unreachable(v)


def _call_indirect(v: State, args: tuple) -> None:
    ctx = v.ctx
    table = _index(ctx.tables, args[1], "table")
    if table.elem != "funcref":
        raise ValidationError("type mismatch: call_indirect needs a funcref table")
    params, results = ctx.sig(_index(ctx.types, args[0], "type"))
    pop_i32(v)
    if params:
        pop_vals(v, params)
    v.stk.extend(results)


# --- parametric -----------------------------------------------------------------------------

def _drop(v: State, args: tuple) -> None:
    stk = v.stk
    if len(stk) > v.base:
        stk.pop()
    else:
        pop_val(v)


def _select(v: State, args: tuple) -> None:
    pop_i32(v)
    t1 = pop_val(v)
    t2 = pop_val(v)
    if t1 in _REFS or t2 in _REFS:
        raise ValidationError("type mismatch: select without types needs numeric operands")
    if t1 != t2 and t1 is not None and t2 is not None:
        raise ValidationError(f"type mismatch: select operands {t2} and {t1} differ")
    v.stk.append(t2 if t1 is None else t1)


def _select_t(v: State, args: tuple) -> None:
    types = list(args[0])
    if len(types) != 1:
        raise ValidationError("invalid result arity")
    pop_i32(v)
    pop_vals(v, types + types)
    v.stk.append(types[0])


# --- variables ------------------------------------------------------------------------------

def _local_get(v: State, args: tuple) -> None:
    idx = args[0]
    loc = v.locals
    if not 0 <= idx < len(loc):
        raise ValidationError(f"unknown local {idx}")
    v.stk.append(loc[idx])


def _local_set(v: State, args: tuple) -> None:
    idx = args[0]
    loc = v.locals
    if not 0 <= idx < len(loc):
        raise ValidationError(f"unknown local {idx}")
    t = loc[idx]
    stk = v.stk
    if len(stk) > v.base and stk[-1] == t:
        stk.pop()
    else:
        pop_vals(v, [t])


def _local_tee(v: State, args: tuple) -> None:
    idx = args[0]
    loc = v.locals
    if not 0 <= idx < len(loc):
        raise ValidationError(f"unknown local {idx}")
    t = loc[idx]
    stk = v.stk
    if not (len(stk) > v.base and stk[-1] == t):
        pop_vals(v, [t])
        stk.append(t)


def _global_get(v: State, args: tuple) -> None:
    v.stk.append(_index(v.ctx.globals, args[0], "global").type)


def _global_set(v: State, args: tuple) -> None:
    g = _index(v.ctx.globals, args[0], "global")
    if not g.mutable:
        raise ValidationError("global is immutable")
    pop_vals(v, [g.type])


# --- tables ---------------------------------------------------------------------------------

def _table(v: State, idx: int) -> str:
    return _index(v.ctx.tables, idx, "table").elem


def _table_get(v: State, args: tuple) -> None:
    t = _table(v, args[0])
    pop_i32(v)
    v.stk.append(t)


def _table_set(v: State, args: tuple) -> None:
    pop_vals(v, ["i32", _table(v, args[0])])


def _table_size(v: State, args: tuple) -> None:
    _table(v, args[0])
    v.stk.append("i32")


def _table_grow(v: State, args: tuple) -> None:
    pop_vals(v, [_table(v, args[0]), "i32"])
    v.stk.append("i32")


def _table_fill(v: State, args: tuple) -> None:
    pop_vals(v, ["i32", _table(v, args[0]), "i32"])


def _table_copy(v: State, args: tuple) -> None:
    dst = _table(v, args[0])
    src = _table(v, args[1])
    if dst != src:
        raise ValidationError(f"type mismatch: table.copy from {src} to {dst}")
    pop_vals(v, ["i32", "i32", "i32"])


def _table_init(v: State, args: tuple) -> None:
    t = _table(v, args[1])
    e = _index(v.ctx.elems, args[0], "elem segment")
    if t != e:
        raise ValidationError(f"type mismatch: table.init of {e} into {t}")
    pop_vals(v, ["i32", "i32", "i32"])


def _elem_drop(v: State, args: tuple) -> None:
    _index(v.ctx.elems, args[0], "elem segment")


# --- memories -------------------------------------------------------------------------------

def _memory(v: State, idx: int) -> None:
    _index(v.ctx.mems, idx, "memory")


def _memory_size(v: State, args: tuple) -> None:
    _memory(v, args[0])
    v.stk.append("i32")


def _memory_grow(v: State, args: tuple) -> None:
    _memory(v, args[0])
    pop_i32(v)
    v.stk.append("i32")


def _memory_fill(v: State, args: tuple) -> None:
    _memory(v, args[0])
    pop_vals(v, ["i32", "i32", "i32"])


def _memory_copy(v: State, args: tuple) -> None:
    _memory(v, args[0])
    _memory(v, args[1])
    pop_vals(v, ["i32", "i32", "i32"])


def _memory_init(v: State, args: tuple) -> None:
    _memory(v, args[1])
    if not 0 <= args[0] < v.ctx.ndatas:
        raise ValidationError(f"unknown data segment {args[0]}")
    pop_vals(v, ["i32", "i32", "i32"])


def _data_drop(v: State, args: tuple) -> None:
    if not 0 <= args[0] < v.ctx.ndatas:
        raise ValidationError(f"unknown data segment {args[0]}")


# --- references -----------------------------------------------------------------------------

def _ref_null(v: State, args: tuple) -> None:
    t = HEAP_TO_REF.get(args[0])
    if t is None:
        raise ValidationError(f"unknown heap type {args[0]}")
    v.stk.append(t)


def _ref_is_null(v: State, args: tuple) -> None:
    t = pop_val(v)
    if t is not None and t not in _REFS:
        raise ValidationError(f"type mismatch: ref.is_null needs a reference, got {t}")
    v.stk.append("i32")


def _ref_func(v: State, args: tuple) -> None:
    _index(v.ctx.funcs, args[0], "function")
    if args[0] not in v.ctx.refs:
        raise ValidationError("undeclared function reference")
    v.stk.append("funcref")


# --- instructions with a plain signature and immediates to check ----------------------------

def _lanes(info: OpInfo) -> int:
    """How many lanes a lane index of ``info`` selects from."""
    if info.name.startswith("v128.load") or info.name.startswith("v128.store"):
        return 16 >> info.align
    return {"i8x16": 16, "i16x8": 8, "i32x4": 4, "i64x2": 2, "f32x4": 4,
            "f64x2": 2}[info.name.split(".")[0]]


def _plain_access(params: list[str], results: list[str], natural: int):
    """The rule of a non-atomic load or store: memory 0 exists, alignment at most natural."""
    n = len(params)

    def rule(v: State, args: tuple) -> None:
        if not v.ctx.mems:
            raise ValidationError("unknown memory 0")
        if args[0].align > natural:
            raise ValidationError("alignment must not be larger than natural")
        stk = v.stk
        if len(stk) - n >= v.base and stk[-n:] == params:
            del stk[-n:]
        else:
            pop_vals(v, params)
        stk.extend(results)

    return rule


def _checked(info: OpInfo):
    """A rule for a plain-signature instruction with memarg, lane or shuffle immediates."""
    params, results = list(info.params), list(info.results)
    natural = info.align
    atomic = info.is_atomic
    lanes = _lanes(info) if "lane" in info.imms else 0
    has_memarg = "memarg" in info.imms
    shuffle = "shuffle" in info.imms
    lane_at = info.imms.index("lane") if lanes else -1

    if has_memarg and not atomic and not lanes:
        return _plain_access(params, results, natural)

    def rule(v: State, args: tuple) -> None:
        if has_memarg:
            if not v.ctx.mems:
                raise ValidationError("unknown memory 0")
            align = args[0].align
            if atomic:
                if align != natural:
                    raise ValidationError("atomic alignment must be natural")
            elif align > natural:
                raise ValidationError("alignment must not be larger than natural")
        if lanes and not 0 <= args[lane_at] < lanes:
            raise ValidationError("invalid lane index")
        if shuffle and any(not 0 <= i < 32 for i in args[0]):
            raise ValidationError("invalid lane index")
        if params:
            pop_vals(v, params)
        v.stk.extend(results)

    return rule


RULES: dict = {
    "unreachable": _unreachable, "nop": _nop, "block": _block, "loop": _loop, "if": _if,
    "else": _else, "end": _end, "try_table": _try_table, "throw": _throw,
    "throw_ref": _throw_ref, "br": _br, "br_if": _br_if, "br_table": _br_table,
    "return": _return, "call": _call, "call_indirect": _call_indirect,
    "return_call": _return_call, "return_call_indirect": _return_call_indirect,
    "drop": _drop, "select": _select, "select_t": _select_t,
    "local.get": _local_get, "local.set": _local_set, "local.tee": _local_tee,
    "global.get": _global_get, "global.set": _global_set,
    "table.get": _table_get, "table.set": _table_set, "table.size": _table_size,
    "table.grow": _table_grow, "table.fill": _table_fill, "table.copy": _table_copy,
    "table.init": _table_init, "elem.drop": _elem_drop,
    "memory.size": _memory_size, "memory.grow": _memory_grow, "memory.fill": _memory_fill,
    "memory.copy": _memory_copy, "memory.init": _memory_init, "data.drop": _data_drop,
    "ref.null": _ref_null, "ref.is_null": _ref_is_null, "ref.func": _ref_func,
}

#: plain signatures: mnemonic -> (params list, len(params), result or None)
PLAIN: dict[str, tuple[list[str], int, str | None]] = {}
for _info in OPS.values():
    if _info.name in RULES:
        continue
    if _info.params is None:
        raise AssertionError(f"no validation rule for {_info.name}")
    if set(_info.imms) <= _FREE_IMMS:
        assert len(_info.results) <= 1, _info.name
        PLAIN[_info.name] = (list(_info.params), len(_info.params),
                             _info.results[0] if _info.results else None)
    else:
        assert set(_info.imms) <= {"memarg", "lane", "shuffle"}, _info.name
        RULES[_info.name] = _checked(_info)

_TABLES: dict[frozenset, tuple[dict, dict]] = {}


def tables_for(features: frozenset[str]) -> tuple[dict, dict]:
    """The (plain, rules) dicts restricted to the instructions ``features`` enable."""
    t = _TABLES.get(features)
    if t is None:
        ok = {n for n, i in OPS.items() if i.feature in features}
        t = _TABLES[features] = ({n: s for n, s in PLAIN.items() if n in ok},
                                 {n: r for n, r in RULES.items() if n in ok})
    return t


def validate_body(ctx: CodeContext, ftype: FuncType, local_types: list[str], body: list,
                  tables: tuple[dict, dict]) -> tuple[list[int], int]:
    """Validate one function body; returns (height before each instruction, max height).

    Raises ValidationError located at the failing instruction's offset (the caller adds
    the function's index and name).
    """
    plain, rules = tables
    results = ctx.sig(ftype)[1]
    v = State(ctx, local_types, results)
    stk = v.stk
    heights: list[int] = []
    record = heights.append
    plain_get = plain.get
    base = 0
    nlocals = len(local_types)
    ins = None
    try:
        for ins in body:
            name = ins[0]
            h = len(stk)
            record(h)
            sig = plain_get(name)
            if sig is not None:
                ps, n, res = sig
                if n:
                    if h - n >= base and stk[-n:] == ps:
                        del stk[h - n:]
                    else:
                        pop_vals(v, ps)
                if res is not None:
                    stk.append(res)
            elif name == "local.get":
                idx = ins[1][0]
                if not 0 <= idx < nlocals:
                    raise ValidationError(f"unknown local {idx}")
                stk.append(local_types[idx])
            else:
                rule = rules.get(name)
                if rule is None:
                    raise ValidationError(f"unknown operator {name}")
                rule(v, ins[1])
                base = v.base
        ins = None
        if len(v.ctrl) != 1:
            raise ValidationError("unexpected end of the function body: unclosed block")
        final = len(stk)
        pop_ctrl(v)
    except ValidationError as err:
        if ins is not None and ins[2] >= 0:
            err.located(offset=ins[2])
        raise
    return heights, max(max(heights), final) if heights else final
