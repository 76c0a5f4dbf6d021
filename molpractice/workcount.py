"""Count the work a call does, deterministically: complexity checks that no busy machine can flip.

A grader that times a learner's function at sizes n and 4n judges the machine as much as the code: a
busy core makes a linear function look quadratic. :func:`count_work` instead counts operations, so the
same call on the same input gives the same count on any machine, under any load, and reads no clock:

* every Python bytecode instruction executed, in any frame (``sys.settrace`` with opcode events), so a
  pure-Python loop nested in another shows n² instructions;
* the hidden linear cost of a few C-level operations that a learner uses in loops, charged as the length
  of the container they scan or shift (times :data:`C_WEIGHT`): ``x in seq`` for a list, tuple, deque or
  string held in a name; ``sum/sorted/set/list/tuple/max/min/any/all/frozenset/dict(name, …)``; the list
  methods ``count``, ``index``, ``remove``, ``copy`` and ``pop(i)``/``insert(i, …)`` (charged ``len − i``:
  ``pop()`` is free, ``pop(0)`` is not); ``deque.remove/count/index``; ``dict.values/keys/items/copy``
  (their views are mostly consumed in C: ``max(d.values())``);
* whatever the caller's own objects count (:class:`CountedToken` counts its ``__hash__`` and ``__eq__``, so
  ``set(tokens[l:r])`` rebuilt at every step costs the window's length).

:func:`growth` runs a function at sizes n and 8n and returns the ratio of the counts: about 8 for O(n)
work (10–11 for O(n log n)), up to 64 for O(n²); the verdict line is 16. A budget stops a run early once it is clearly
super-linear, so a quadratic learner function costs no more than a linear one.
"""
from __future__ import annotations

import builtins
import dis
import sys
from collections import deque

#: units charged per element a C-level operation touches (a hash, a comparison, a slot scanned or shifted)
#: and per counted hash/equality test: more than one instruction, so that an n² term of C-level work shows
#: at the small sizes graders can afford (a weight changes no growth rate, only where it becomes visible)
C_WEIGHT = 8
#: input sizes n and GROWTH_FACTOR·n are compared
GROWTH_FACTOR = 8
#: growth of the count from n to 8n above which work is called super-linear: O(n) grows ~8×,
#: O(n log n) ~10–11× at the sizes graders use, O(n²) ~64× (25–40× when its n² part is still small)
SUPERLINEAR_GROWTH = 16.0

_SCANNED = (list, tuple, deque, str)
_CHARGED_BUILTINS = frozenset({"sum", "sorted", "set", "frozenset", "list", "tuple", "max", "min", "any", "all",
                               "dict"})
_BUILTINS = {name: getattr(builtins, name) for name in _CHARGED_BUILTINS}
_NAME_LOADS = frozenset({"LOAD_FAST", "LOAD_FAST_CHECK", "LOAD_FAST_LOAD_FAST", "LOAD_DEREF", "LOAD_GLOBAL",
                         "LOAD_NAME", "LOAD_CLOSURE"})
_CALLS = frozenset({"PRECALL", "CALL", "CALL_KW"})  # 3.11 ends a call with PRECALL + CALL, 3.12 CALL, 3.13 CALL_KW too


class WorkBudgetExceeded(BaseException):
    """Raised inside the counted call once its count passes the budget (a BaseException: ``except
    Exception`` in learner code does not swallow it)."""


class _State:
    count = 0
    budget = None
    skip: frozenset = frozenset()


_STATE = _State()
_UNTRACED: set = set()  # code objects whose instructions are not counted (the counters' own methods)
_INSTRUCTIONS: dict = {}  # code object -> {offset: (index, instructions)}


def charge(units: int = 1) -> None:
    """Add ``units`` to the running count (for objects that count their own operations)."""
    _STATE.count += units


def _untraced(func):
    _UNTRACED.add(func.__code__)
    return func


class CountedToken(str):
    """A string token whose hashes and comparisons are counted (:data:`C_WEIGHT` units each).

    Equal tokens hash alike and deterministically (``code``, not the per-process string hash), so set and
    dict orders — and hence counts — are the same in every run.
    """

    def __new__(cls, text: str, code: int):
        token = super().__new__(cls, text)
        token.code = code
        return token

    @_untraced
    def __hash__(self):
        _STATE.count += C_WEIGHT
        return self.code

    @_untraced
    def __eq__(self, other):
        _STATE.count += C_WEIGHT
        return str.__eq__(self, other)

    @_untraced
    def __ne__(self, other):
        _STATE.count += C_WEIGHT
        return str.__ne__(self, other)

    @_untraced
    def __lt__(self, other):  # sorting a window per step costs its comparisons
        _STATE.count += C_WEIGHT
        return str.__lt__(self, other)

    @_untraced
    def __gt__(self, other):
        _STATE.count += C_WEIGHT
        return str.__gt__(self, other)


def tokens(values) -> list[CountedToken]:
    """``values`` (strings) as :class:`CountedToken` objects; equal strings get one hash code."""
    codes: dict = {}
    return [CountedToken(v, codes.setdefault(v, len(codes))) for v in values]


def _instructions(code):
    table = _INSTRUCTIONS.get(code)
    if table is None:
        listing = [i for i in dis.get_instructions(code) if i.opname != "CACHE"]
        table = {ins.offset: (k, listing) for k, ins in enumerate(listing)}
        _INSTRUCTIONS[code] = table
    return table


def _value(frame, ins, missing=None, first=False):
    """The value an instruction that loads a name or constant pushes, read from the frame (else ``missing``);
    for 3.13's LOAD_FAST_LOAD_FAST, the second name (on top of the stack) or with ``first`` the first one."""
    if ins.opname == "LOAD_CONST":
        return ins.argval
    if ins.opname == "LOAD_FAST_LOAD_FAST":
        names = ins.argval if isinstance(ins.argval, tuple) else ()
        return frame.f_locals.get(names[0 if first else -1], missing) if names else missing
    if ins.opname in ("LOAD_FAST", "LOAD_FAST_CHECK", "LOAD_DEREF", "LOAD_CLOSURE"):
        return frame.f_locals.get(ins.argval, missing)
    if ins.opname in ("LOAD_GLOBAL", "LOAD_NAME"):
        name = ins.argval
        if name in frame.f_globals:
            return frame.f_globals[name]
        builtins = frame.f_builtins
        return builtins.get(name, missing)
    return missing


def _scan_cost(obj) -> int:
    return len(obj) if isinstance(obj, _SCANNED) else 0


_PLAIN_ARGUMENT_OPS = frozenset({"LOAD_FAST", "LOAD_DEREF", "LOAD_GLOBAL", "LOAD_NAME", "LOAD_CONST", "LOAD_ATTR",
                                  "MAKE_FUNCTION", "KW_NAMES", "LOAD_CLOSURE", "BUILD_TUPLE"})


def _bare_first_argument(listing, k) -> bool:
    """Whether the call whose callable ``listing[k]`` loads takes the name loaded by ``listing[k + 1]`` as it is:
    ``f(x)``, or ``f(x, key=…)`` with only loads and keywords after it (not ``f(x[i])`` nor ``f(x + y)``)."""
    rest = ["LOAD_FAST"] if listing[k + 1].opname == "LOAD_FAST_LOAD_FAST" else []  # 3.13: x and the next load
    for ins in listing[k + 2:k + 12]:
        if ins.opname in _CALLS:
            keywords = "KW_NAMES" in rest or ins.opname == "CALL_KW"
            return not rest or (keywords and all(op in _PLAIN_ARGUMENT_OPS for op in rest)) \
                or rest == ["LOAD_FAST"] and listing[k + 1].opname == "LOAD_FAST_LOAD_FAST" and ins.arg == 2
        rest.append(ins.opname)
    return False


def _hidden_cost(frame) -> int:
    """C-level linear work of the instruction about to run (0 when there is none or it cannot be seen)."""
    found = _instructions(frame.f_code).get(frame.f_lasti)
    if found is None:
        return 0
    k, listing = found
    ins = listing[k]
    if ins.opname == "CONTAINS_OP" and k >= 1:
        return _scan_cost(_value(frame, listing[k - 1]))
    if ins.opname in ("LOAD_GLOBAL", "LOAD_NAME") and ins.argval in _CHARGED_BUILTINS and k + 1 < len(listing) \
            and listing[k + 1].opname in _NAME_LOADS and _bare_first_argument(listing, k):
        if _value(frame, ins) is _BUILTINS[ins.argval]:  # not shadowed by a name of the learner's
            arg = _value(frame, listing[k + 1], first=True)
            return len(arg) if isinstance(arg, (list, tuple, deque, set, frozenset, dict, str)) else 0
    return 0


_LIST_SCANS = frozenset({"count", "index", "remove", "copy"})


def _method_cost(frame, method) -> int:
    """Cost of a builtin method call about to run (profile ``c_call``): scans and shifts of lists/deques."""
    receiver = getattr(method, "__self__", None)
    name = getattr(method, "__name__", "")
    if isinstance(receiver, dict):  # a view consumed in C (max(d.values()), sum(d.values())) scans the dict
        return len(receiver) if name in ("values", "keys", "items", "copy") else 0
    if isinstance(receiver, deque):
        return len(receiver) if name in ("count", "index", "remove") else 0
    if not isinstance(receiver, list):
        return 0
    if name in _LIST_SCANS:
        return len(receiver)
    if name not in ("pop", "insert"):
        return 0
    found = _instructions(frame.f_code).get(frame.f_lasti)
    if found is None:
        return 0
    k, listing = found
    if listing[k].opname not in _CALLS:
        return len(receiver)  # called some other way: charge the worst case
    argc = listing[k].arg or 0
    if name == "pop" and argc == 0:
        return 0
    last = k - 1 if listing[k - 1].opname == "PRECALL" else k  # 3.11: PRECALL sits between arguments and CALL
    first = last - argc  # the argc instructions before it load the arguments (when each is a single load)
    if first < 0:
        return len(receiver)
    index = _value(frame, listing[first])
    if isinstance(index, int) and not isinstance(index, bool):
        position = index if index >= 0 else len(receiver) + index
        return max(0, len(receiver) - position)
    return len(receiver)  # an index we cannot read: charge the worst case


def _local_trace(frame, event, arg):
    if event == "opcode":
        state = _STATE
        state.count += 1 + C_WEIGHT * _hidden_cost(frame)
        if state.budget is not None and state.count > state.budget:
            raise WorkBudgetExceeded(state.count)
    return _local_trace


def _global_trace(frame, event, arg):
    if frame.f_code in _UNTRACED or frame.f_code in _STATE.skip:
        return None
    frame.f_trace_opcodes = True
    frame.f_trace_lines = False
    return _local_trace


def _profile(frame, event, arg):
    if event == "c_call":
        _STATE.count += C_WEIGHT * _method_cost(frame, arg)


def count_work(func, args=(), kwargs=None, budget: int | None = None, skip=()) -> tuple[int, object]:
    """``(count, result)`` of ``func(*args, **kwargs)``; ``result`` is None when the budget stopped it.

    The count is deterministic: the same call on the same input gives the same number on every run.
    ``budget`` stops the call (by raising :class:`WorkBudgetExceeded` inside it) once the count passes it;
    the returned count is then just above the budget. ``skip``: functions whose own instructions are not
    counted (e.g. argument validation outside the learner's part; what they call is counted).
    """
    kwargs = kwargs or {}
    old_trace, old_profile = sys.gettrace(), sys.getprofile()
    _STATE.count, _STATE.budget = 0, budget
    _STATE.skip = frozenset(getattr(f, "__code__", f) for f in skip)
    result = None
    sys.setprofile(_profile)
    sys.settrace(_global_trace)
    try:
        result = func(*args, **kwargs)
    except WorkBudgetExceeded:
        result = None
    finally:
        sys.settrace(old_trace)
        sys.setprofile(old_profile)
        count, _STATE.budget, _STATE.skip = _STATE.count, None, frozenset()
    return count, result


def growth(func, make_args, sizes=(32, 128), factor: int = GROWTH_FACTOR, limit: float = SUPERLINEAR_GROWTH,
           skip=()) -> tuple[float, int, int, int]:
    """``(ratio, n, count_n, count_fn)``: the fastest growth of the counted work of ``func(*make_args(size))``
    from n to factor·n, over n in ``sizes`` (smallest first).

    The run at factor·n stops once its count passes ``limit`` times the count at n: the ratio is then over
    the limit anyway (a lower bound, shown as such by :func:`describe`), and the check stops there. So a
    super-linear function costs about as much as a linear one: the small first size catches work with a
    large n² part cheaply, the larger one work whose n² part has a small constant (a C-level scan).
    """
    # Python >= 3.12 traces through sys.monitoring: a code object's first frame runs before opcode events are
    # switched on for it, so its steps would go uncounted. One discarded run instruments every code object.
    count_work(func, make_args(sizes[0]), skip=skip)
    worst = None
    for n in sizes:
        small, _ = count_work(func, make_args(n), skip=skip)
        large, _ = count_work(func, make_args(factor * n), budget=int(small * limit) + 1, skip=skip)
        found = (large / max(small, 1), n, small, large)
        worst = found if worst is None or found[0] > worst[0] else worst
        if found[0] > limit:
            break
    return worst


def describe(ratio: float, limit: float = SUPERLINEAR_GROWTH) -> str:
    """``"9.2×"``, or ``"more than 16×"`` when the run was stopped at the budget."""
    return f"more than {limit:.0f}×" if ratio > limit else f"{ratio:.1f}×"
