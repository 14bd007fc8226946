"""The portable tier on deeply nested control: the flat lowering a function gets when its
structured form would nest deeper than CPython allows, checked against expected results
(computed here in Python) and against the structured form where both exist; plus the
compiled C programs of /work/shared/realworld, whose libc has such functions."""
from __future__ import annotations

import io
import json
import random
from pathlib import Path

import pytest

from sharedwasm.tiers import compile_module, instantiate, invoke
from sharedwasm.tiers.pygen import codegen
from sharedwasm.runtime import WasmThrow
from sharedwasm.text.parser import parse_module
from sharedwasm.valid.validate import validate_module

pytestmark = pytest.mark.usefixtures("portable_engine")

M32 = 0xFFFFFFFF
REALWORLD = Path(__file__).resolve().parents[2] / "shared" / "realworld"
if not REALWORLD.is_dir():
    REALWORLD = Path("/work/shared/realworld")
needs_realworld = pytest.mark.skipif(not (REALWORLD / "out").is_dir(),
                                     reason=f"{REALWORLD} is absent")


def build(wat: str):
    m = parse_module(wat)
    info = validate_module(m)
    return m, info, instantiate(m, info, [])


def flat_used(m, info) -> bool:
    return "pc = 0" in compile_module(m, info).source


@pytest.fixture(params=["auto", "flat"])
def mode(request, monkeypatch):
    """Run a test with the normal choice of lowering, then with every function flat."""
    monkeypatch.setattr(codegen, "FLAT_ALWAYS", request.param == "flat")
    return request.param


# --- blocks: a 200-deep switch -----------------------------------------------------------
def switch_wat(depth: int) -> str:
    labels = " ".join(f"$b{k}" for k in range(depth))
    out = ['(module (func (export "f") (param $x i32) (result i32) (local $r i32)']
    out += [f"(block $b{k}" for k in range(depth)]
    out.append(f"(br_table {labels} (local.get $x)))")
    for k in range(depth - 1, -1, -1):
        # after the end of block k (the innermost one first)
        step = (f"(local.set $r (i32.add (i32.mul (local.get $r) (i32.const 3)) "
                f"(i32.const {k})))")
        if k % 50 == 25:
            step += f"(br_if $b{k - 2} (i32.eq (local.get $x) (i32.const {k})))"
        out.append(step + (")" if k else ""))
    out.append("(local.get $r)))")
    return "\n".join(out)


def switch_expected(depth: int, x: int) -> int:
    level = min(x, depth - 1)   # index i names $b<i> (the default is the last label)
    r = 0
    k = level
    while k >= 0:
        r = (r * 3 + k) & M32
        if k % 50 == 25 and x == k:
            k -= 1              # the br_if skips the code after block k - 1
        k -= 1
    return r


def test_blocks_200_deep_with_br_table(mode):
    m, info, inst = build(switch_wat(200))
    assert flat_used(m, info)
    for x in [0, 1, 2, 25, 75, 99, 100, 174, 175, 198, 199, 200, 5000, M32]:
        assert invoke(inst.exports["f"], [x]) == [switch_expected(200, x)], x


# --- loops: 40 deep, an odometer branching to every level ---------------------------------
LIMITS = [2 if k in (0, 13, 26, 39) else 3 if k == 20 else 1 for k in range(40)]


def loops_wat(limits: list[int]) -> str:
    n = len(limits)
    locs = " ".join(f"(local $i{k} i32)" for k in range(n))
    out = [f'(module (func (export "f") (result i32) (local $c i32) {locs}']
    for k in range(n):
        out.append(f"(local.set $i{k} (i32.const 0)) (loop $L{k}")
    mix = " ".join(f"(i32.mul (local.get $i{k}) (i32.const {k + 1})) i32.add"
                   for k in range(n) if limits[k] > 1)
    out.append(f"(local.set $c (i32.add (i32.mul (local.get $c) (i32.const 31)) "
               f"(i32.const 1))) (local.get $c) (i32.const 0) {mix} i32.add (local.set $c)")
    for k in range(n - 1, -1, -1):
        out.append(f"(local.set $i{k} (i32.add (local.get $i{k}) (i32.const 1)))"
                   f"(br_if $L{k} (i32.lt_u (local.get $i{k}) (i32.const {limits[k]}))))")
    out.append("(local.get $c)))")
    return "\n".join(out)


def loops_expected(limits: list[int]) -> int:
    import itertools
    c = 0
    for idx in itertools.product(*[range(n) for n in limits]):
        c = (c * 31 + 1) & M32
        c = (c + sum(i * (k + 1) for k, i in enumerate(idx) if limits[k] > 1)) & M32
    return c


def test_loops_40_deep(mode):
    m, info, inst = build(loops_wat(LIMITS))
    assert flat_used(m, info)
    assert invoke(inst.exports["f"], []) == [loops_expected(LIMITS)]


# --- try_table: 30 deep, each handler rethrowing outward ----------------------------------
def tries_wat(depth: int) -> str:
    out = ['(module (tag $e (param i32))',
           '(func $throw (param i32) (throw $e (local.get 0)))',
           '(func (export "f") (param $d i32) (result i32)']
    for k in range(depth):
        out.append(f"(block $h{k} (result i32) (try_table (result i32) (catch $e $h{k})")
    out.append("(call $throw (i32.const 1000)) unreachable")
    for k in range(depth - 1, -1, -1):
        # levels inside ``d`` (and all of them when d >= 100) rethrow, marking the value
        out.append(f")) (i32.const {k}) i32.add"
                   f"(if (param i32) (result i32) (i32.or (i32.lt_u (local.get $d) "
                   f"(i32.const {k})) (i32.ge_u (local.get $d) (i32.const 100)))"
                   f"  (then (throw $e (i32.add (i32.const 1000000)))))")
    out.append("))")
    return "\n".join(out)


def test_try_table_30_deep(mode):
    m, info, inst = build(tries_wat(30))
    assert flat_used(m, info)
    for d in [0, 1, 7, 15, 28, 29, 30]:
        rethrows = max(29 - d, 0)
        assert invoke(inst.exports["f"], [d]) == [1435 + 1000000 * rethrows], d
    with pytest.raises(WasmThrow) as exc:
        invoke(inst.exports["f"], [100])    # rethrown at every level: leaves the function
    assert exc.value.exn.payload == (1435 + 30 * 1000000,)


# --- boundaries: the structured form is kept while it fits ----------------------------------
def nested_loops(n: int) -> str:
    body = "(local.set 0 (i32.add (local.get 0) (i32.const 1)))"
    for k in range(n):
        body = f"(loop $l{k} {body} (br_if $l{k} (i32.lt_u (local.get 0) (i32.const {k}))))"
    return f'(module (func (export "f") (param i32) (result i32) {body} (local.get 0)))'


@pytest.mark.parametrize("n", [18, 19, 20, 21])
def test_limit_boundary(n):
    m, info, inst = build(nested_loops(n))
    assert flat_used(m, info) == (n > 19)   # the function's own try is one block
    assert invoke(inst.exports["f"], [0])[0] > 0


def test_deep_if_nesting_stays_within_indentation_limit(mode):
    n = 150
    body = "(local.set 0 (i32.add (local.get 0) (i32.const 1000)))"
    for k in range(n):
        body = (f"(local.set 0 (i32.add (local.get 0) (i32.const 1)))"
                f"(if (i32.lt_u (local.get 0) (i32.const {n - k + 1})) (then {body}))")
    m, info, inst = build(f'(module (func (export "f") (param i32) (result i32) {body} '
                          f'(local.get 0)))')
    assert flat_used(m, info)
    assert invoke(inst.exports["f"], [0]) == [1150]
    assert invoke(inst.exports["f"], [10]) == [11]


def test_pending_local_get_survives_a_later_write(mode):
    """``local.get x ... local.tee x`` (clang's ``x - x / k * k``) reads the old value."""
    m, info, inst = build(
        '(module (func (export "f") (param i64) (result i64) local.get 0 local.get 0 '
        'i64.const 10 i64.div_u local.tee 0 i64.const 10 i64.mul i64.sub)'
        '(func (export "g") (param i32) (result i32) local.get 0 i32.const 5 local.set 0))')
    assert invoke(inst.exports["f"], [1234]) == [4]
    assert invoke(inst.exports["g"], [7]) == [7]


# --- random control flow against a Python model ----------------------------------------------
class Branch(Exception):
    def __init__(self, depth: int):
        self.depth = depth


class Thrown(Exception):
    pass


def gen(rng: random.Random, depth: int, labels: int, budget: list) -> list:
    """A statement list: ("op", k), ("br", label depth, k), ("throw", k), or constructs
    ("block"|"loop"|"try", body), ("if", k, then, else)."""
    out = []
    for _ in range(rng.randint(1, 4)):
        budget[0] -= 1
        r = rng.random()
        if depth > 0 and budget[0] > 0 and r < 0.55:
            kind = rng.choice(["block", "loop", "if", "try", "block"])
            if kind == "if":
                out.append(("if", rng.randint(0, 7), gen(rng, depth - 1, labels + 1, budget),
                            gen(rng, depth - 1, labels + 1, budget)))
            else:
                inner = labels + (2 if kind == "try" else 1)
                out.append((kind, gen(rng, depth - 1, inner, budget)))
        elif r < 0.8:
            out.append(("br", rng.randrange(labels), rng.randint(0, 6)))
        elif r < 0.85:
            out.append(("throw", rng.randint(0, 7)))
        else:
            out.append(("op", rng.randint(1, 99)))
    return out


def emit(stmts: list) -> str:
    out = []
    for s in stmts:
        kind = s[0]
        if kind == "op":
            out.append(f"(local.set $a (i32.add (i32.mul (local.get $a) (i32.const 31)) "
                       f"(i32.const {s[1]})))")
        elif kind == "br":
            out.append(f"(local.set $f (i32.sub (local.get $f) (i32.const 1)))"
                       f"(br_if {s[1]} (i32.and (i32.gt_s (local.get $f) (i32.const 0))"
                       f" (i32.eq (i32.rem_u (local.get $a) (i32.const 7)) (i32.const {s[2]}))))"
                       f"(local.set $a (i32.add (local.get $a) (i32.const 3)))")
        elif kind == "throw":
            out.append(f"(if (i32.eq (i32.and (local.get $a) (i32.const 7)) (i32.const {s[1]}))"
                       f" (then (local.set $a (i32.add (local.get $a) (i32.const 1))) "
                       f"(throw $e)))")
        elif kind == "if":
            out.append(f"(if (i32.gt_u (i32.and (local.get $a) (i32.const 7)) (i32.const {s[1]}))"
                       f" (then {emit(s[2])}) (else {emit(s[3])}))")
        elif kind == "try":
            out.append(f"(block (try_table (catch_all 1) {emit(s[1])}))"
                       f"(local.set $a (i32.xor (local.get $a) (i32.const 0x55)))")
        else:
            out.append(f"({kind} {emit(s[1])})")
    return " ".join(out)


class Model:
    def __init__(self, a: int = 0):
        self.a = a
        self.f = 400

    def run(self, stmts: list) -> None:
        for s in stmts:
            kind = s[0]
            if kind == "op":
                self.a = (self.a * 31 + s[1]) & M32
            elif kind == "br":
                self.f -= 1
                if self.f > 0 and self.a % 7 == s[2]:
                    raise Branch(s[1])
                self.a = (self.a + 3) & M32
            elif kind == "throw":
                if self.a & 7 == s[1]:
                    self.a = (self.a + 1) & M32
                    raise Thrown()
            elif kind == "if":
                self.scoped(s[2] if self.a & 7 > s[1] else s[3])
            elif kind == "try":
                try:
                    self.scoped(s[1], labels=2)
                except Thrown:
                    pass
                self.a ^= 0x55
            elif kind == "loop":
                while True:
                    try:
                        self.run(s[1])
                        break
                    except Branch as b:
                        if b.depth:
                            raise Branch(b.depth - 1) from None
            else:
                self.scoped(s[1])

    def scoped(self, stmts: list, labels: int = 1) -> None:
        try:
            self.run(stmts)
        except Branch as b:
            if b.depth >= labels:
                raise Branch(b.depth - labels) from None


def random_case(seed: int, depth: int, size: int) -> tuple[str, object]:
    rng = random.Random(seed)
    prog = gen(rng, depth, 1, [size])
    a = 12345 + seed
    wat = (f'(module (tag $e) (func (export "f") (result i32) (local $a i32) (local $f i32)'
           f' (local.set $a (i32.const {a})) (local.set $f (i32.const 400))'
           f' (block {emit(prog)}) (local.get $a)))')
    model = Model(a)
    try:
        model.scoped(prog)
        expected: object = model.a
    except Thrown:
        expected = Thrown
    return wat, expected


@pytest.mark.parametrize("seed,depth,size", [(s, 6, 80) for s in range(16)]
                         + [(100 + s, 30, 160) for s in range(8)])
def test_random_control_flow(mode, seed, depth, size):
    wat, expected = random_case(seed, depth, size)
    m, info, inst = build(wat)
    if expected is Thrown:
        with pytest.raises(WasmThrow):
            invoke(inst.exports["f"], [])
    else:
        assert invoke(inst.exports["f"], []) == [expected]


def test_random_deep_chain_goes_flat():
    rng = random.Random(7)
    kinds = [rng.choice(["block", "loop", "try"]) for _ in range(60)]
    prog: list = [("op", 1)]
    for k, kind in enumerate(kinds):
        # labels in scope inside construct k: its own, the enclosing ones and the top block
        scope = 1 + sum(2 if c == "try" else 1 for c in kinds[k:])
        prog = [(kind, prog + [("br", rng.randrange(scope), 0), ("op", k)])]
    wat = (f'(module (tag $e) (func (export "f") (result i32) (local $a i32) (local $f i32)'
           f' (local.set $f (i32.const 400)) (block {emit(prog)}) (local.get $a)))')
    model = Model()
    model.scoped(prog)
    m, info, inst = build(wat)
    assert flat_used(m, info)
    assert invoke(inst.exports["f"], []) == [model.a]


# --- real compiled programs ---------------------------------------------------------------
@needs_realworld
def test_realworld_modules_compile():
    import sharedwasm as wasm
    for path in sorted((REALWORLD / "out").glob("*.wasm")):
        m = wasm.Module(path.read_bytes())
        compiled = compile_module(m.ast, m.info)
        for k in range(compiled.nfuncs):      # functions compile lazily: force each one
            compiled.function_code(k)


@needs_realworld
def test_realworld_printf_runs():
    """``hello`` formats through musl's printf_core, which only the flat form can hold."""
    import sharedwasm as wasm
    from sharedwasm.wasi import WASI
    case = next(c for c in json.loads((REALWORLD / "wasi_cases.json").read_text())["cases"]
                if c["name"] == "hello")
    out, err = io.BytesIO(), io.BytesIO()
    m = wasm.Module((REALWORLD / "out" / "hello.wasm").read_bytes())
    assert flat_used(m.ast, m.info)
    with WASI(args=case["args"], env=case["env"], stdin=io.BytesIO(b""), stdout=out,
              stderr=err) as wasi:
        code = wasi.start(wasm.Instance(m, wasi.imports))
    assert code == 0
    assert out.getvalue() == (REALWORLD / "expected" / "wasi" / "hello.stdout").read_bytes()
