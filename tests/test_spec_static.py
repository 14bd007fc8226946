"""The static half of the spec suites: what must be rejected is rejected, the rest accepted.

For every ``.wast`` of core, threads and exceptions (with the features of its folder):

- binary form (the outside tool's ``.wasm`` of each command): every ``assert_malformed``
  must fail decoding with ``MalformedError``; every ``assert_invalid`` must decode and fail
  validation with ``ValidationError``; every other module must decode and validate;
- text form (our own script parser): a quoted ``assert_malformed`` module must fail to
  parse with ``MalformedError`` (a binary one to decode); an ``assert_invalid`` module must
  parse, encode and decode, then fail validation; every other module must go through
  parse -> encode -> decode -> validate.

Wrong acceptances and wrong rejections fail the test. Whether ``err.message`` contains the
script's expected text is counted and summarised per suite at the end of the session; the
test asserts a floor on the share of matches.
"""
from __future__ import annotations

import functools
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from sharedwasm.binary.decode import decode_module
from sharedwasm.binary.encode import encode_module
from sharedwasm.errors import CompileError, MalformedError, ValidationError
from sharedwasm.text import script
from sharedwasm.valid.validate import validate_module

from suites import SUITES, all_wast_params, need_spec, reference_commands

#: share of rejections whose message must contain the expected text, per script
MESSAGE_FLOOR = 0.9
TABLE = ("spec static checks: right outcome/total, mN = N messages contain the expected "
         "text")
#: command kinds whose module must be accepted statically
ACCEPTED = {"module", "assert_unlinkable", "assert_uninstantiable", "assert_trap",
            "assert_exhaustion"}


#: commands whose expectation does not hold for the features in scope:
#: (suite/script, first line, last line) -> reason. Each is reported; one that starts to
#: behave as the script says is reported as well (then the entry can go).
OUT_OF_SCOPE: dict[tuple[str, int, int], str] = {}


def out_of_scope(wast: Path, line: int) -> str | None:
    key = f"{wast.parent.name}/{wast.stem}"
    for (script_id, first, last), reason in OUT_OF_SCOPE.items():
        if script_id == key and first <= line <= last:
            return reason
    return None


@functools.cache
def parsed_script(wast: Path) -> tuple:
    """Our script parser's commands of ``wast`` (threads' inner commands flattened)."""
    return tuple(_flatten(script.parse_script(wast.read_text(encoding="utf-8"), str(wast))))


@dataclass
class Tally:
    """Outcomes of one script: counts per check, and the wrong ones with their reasons."""

    wast: Path
    counts: Counter = field(default_factory=Counter)
    wrong: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def _skip(self, check: str, line: int, run, rejects: bool) -> bool:
        reason = out_of_scope(self.wast, line)
        if reason is None:
            return False
        try:
            run()
            rejected = False
        except Exception:
            rejected = True
        now = " (now behaves as the script says: remove the entry)" if rejected == rejects \
            else ""
        self.skipped.append(f"{self.wast.parent.name}/{self.wast.name}:{line} {check}: "
                            f"{reason}{now}")
        return True

    def reject(self, check: str, line: int, expected_cls: type, expected: str,
               run) -> None:
        """``run()`` must raise ``expected_cls`` whose message contains ``expected``."""
        if self._skip(check, line, run, True):
            return
        self.counts[check] += 1
        self.counts[f"{check} ok"] += 0
        self.counts[f"{check} msg"] += 0
        try:
            run()
        except expected_cls as err:
            self.counts[f"{check} ok"] += 1
            if expected in err.message:
                self.counts[f"{check} msg"] += 1
            else:
                self.mismatched.append(f"line {line} {check}: expected {expected!r}, "
                                       f"got {err.message!r}")
            return
        except CompileError as err:
            self.wrong.append(f"line {line} {check}: expected {expected_cls.__name__} "
                              f"{expected!r}, got {type(err).__name__}: {err}")
            return
        except Exception as err:  # a defect: report it with the others, do not stop
            self.wrong.append(f"line {line} {check}: crashed with {type(err).__name__}: {err}")
            return
        self.wrong.append(f"line {line} {check}: accepted, expected {expected_cls.__name__} "
                          f"{expected!r}")

    def accept(self, check: str, line: int, run) -> None:
        if self._skip(check, line, run, False):
            return
        self.counts[check] += 1
        self.counts[f"{check} ok"] += 0
        try:
            run()
        except Exception as err:
            self.wrong.append(f"line {line} {check}: rejected a valid module: "
                              f"{type(err).__name__}: {err}")
            return
        self.counts[f"{check} ok"] += 1


def _binary_checks(wast, features: frozenset[str], tally: Tally) -> None:
    def decode(data):
        return lambda: decode_module(data, features)

    def decode_validate(data):
        return lambda: validate_module(decode_module(data, features), features)

    for cmd in reference_commands(wast):
        data = cmd.module_bytes()
        if data is None:
            continue        # a quoted text module has no binary form
        if cmd.type == "assert_malformed":
            tally.reject("malformed bin", cmd.line, MalformedError, cmd.data["text"],
                         decode(data))
        elif cmd.type == "assert_invalid":
            tally.reject("invalid bin", cmd.line, ValidationError, cmd.data["text"],
                         decode_validate(data))
        elif cmd.type in ACCEPTED:
            tally.accept("valid bin", cmd.line, decode_validate(data))


def _flatten(commands):
    for c in commands:
        yield c
        if isinstance(c, script.Thread):
            yield from _flatten(c.commands)


def _text_checks(wast, features: frozenset[str], tally: Tally) -> None:
    def through_binary(mod: script.ModuleCommand, check_valid: bool):
        def run():
            if mod.kind == "binary":
                data = mod.binary
            else:
                data = encode_module(mod.parse(features))
            tree = decode_module(data, features)
            if check_valid:
                validate_module(tree, features)
        return run

    def parse_only(mod: script.ModuleCommand):
        if mod.kind == "binary":
            return lambda: decode_module(mod.binary, features)
        return lambda: mod.parse(features)

    def invalid(mod: script.ModuleCommand):
        def run():
            try:
                tree = decode_module(mod.binary, features) if mod.kind == "binary" \
                    else decode_module(encode_module(mod.parse(features)), features)
            except MalformedError as err:   # not a validation failure: wrong class
                raise CompileError(f"text pipeline failed before validation: {err}")
            validate_module(tree, features)
        return run

    for cmd in parsed_script(wast):
        if isinstance(cmd, script.AssertMalformed):
            tally.reject(f"malformed {_form(cmd.module)}", cmd.line, MalformedError,
                         cmd.message, parse_only(cmd.module))
        elif isinstance(cmd, script.AssertInvalid):
            tally.reject(f"invalid {_form(cmd.module)}", cmd.line, ValidationError,
                         cmd.message, invalid(cmd.module))
        elif isinstance(cmd, script.ModuleCommand):
            tally.accept(f"valid {_form(cmd)}", cmd.line, through_binary(cmd, True))
        elif isinstance(cmd, (script.AssertUnlinkable, script.AssertUninstantiable)):
            tally.accept(f"valid {_form(cmd.module)}", cmd.line,
                         through_binary(cmd.module, True))


def _form(mod: script.ModuleCommand) -> str:
    """Text-side check names: ``binary`` modules of the script are a separate column."""
    return {"text": "text", "quote": "text", "binary": "script-bin"}[mod.kind]


def _record(report, suite: str, tally: Tally) -> None:
    for key, n in tally.counts.items():
        report.count(TABLE, suite, key, n)
    for text in tally.skipped:
        report.note(TABLE, f"out of scope: {text}")


def _explain(tally: Tally, limit: int = 25) -> str:
    shown = tally.wrong[:limit]
    more = len(tally.wrong) - len(shown)
    return "\n".join(shown + ([f"... and {more} more"] if more > 0 else []))


@pytest.mark.parametrize("suite, wast", all_wast_params())
def test_binary_form(suite: str, wast, report):
    need_spec()
    tally = Tally(wast)
    _binary_checks(wast, SUITES[suite], tally)
    _record(report, suite, tally)
    assert not tally.wrong, _explain(tally)
    _assert_message_floor(tally, ("malformed bin", "invalid bin"))


@pytest.mark.parametrize("suite, wast", all_wast_params())
def test_text_form(suite: str, wast, report):
    need_spec()
    tally = Tally(wast)
    _text_checks(wast, SUITES[suite], tally)
    _record(report, suite, tally)
    assert not tally.wrong, _explain(tally)
    _assert_message_floor(tally, ("malformed text", "invalid text", "malformed script-bin",
                                  "invalid script-bin"))


@pytest.mark.parametrize("suite, wast", all_wast_params())
def test_both_parsers_see_the_same_assertions(suite: str, wast):
    """Our script parser finds as many malformed/invalid assertions as the outside tool."""
    need_spec()
    ours = Counter(type(c).__name__ for c in parsed_script(wast))
    theirs = Counter(c.type for c in reference_commands(wast))
    assert ours["AssertMalformed"] == theirs["assert_malformed"]
    assert ours["AssertInvalid"] == theirs["assert_invalid"]


def _assert_message_floor(tally: Tally, checks: tuple[str, ...]) -> None:
    rejected = sum(tally.counts[f"{c} ok"] for c in checks)
    matched = sum(tally.counts[f"{c} msg"] for c in checks)
    if rejected:
        assert matched >= MESSAGE_FLOOR * rejected, (
            f"only {matched}/{rejected} messages match:\n" + "\n".join(tally.mismatched[:25]))
