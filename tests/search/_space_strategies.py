"""Hypothesis strategies of search spaces (shared by the space and searcher tests)."""

from __future__ import annotations

from hypothesis import strategies as st

from calipers.search import Categorical, Float, Int, SearchSpace

CHOICE = st.one_of(
    st.integers(-5, 5),
    st.sampled_from(["a", "b", "c", "rbf", ""]),
    st.booleans(),
    st.none(),
    st.floats(-3, 3, allow_nan=False).map(lambda f: round(f, 2)),
    st.tuples(st.integers(1, 3), st.integers(1, 3)),  # e.g. hidden_layer_sizes
)


@st.composite
def floats(draw, condition=None):
    log = draw(st.booleans())
    if log:
        low = draw(st.floats(1e-6, 1e3))
        high = low * draw(st.floats(1.01, 1e6))
    else:
        low = draw(st.floats(-1e6, 1e6))
        high = low + draw(st.floats(1e-3, 1e6))
    return Float(low, high, log=log, condition=condition)


@st.composite
def ints(draw, condition=None, max_size=12):
    log = draw(st.booleans())
    if log:
        low = draw(st.integers(1, 100))
        high = low + draw(st.integers(1, 1000))
        return Int(low, high, log=True, condition=condition)
    step = draw(st.integers(1, 4))
    low = draw(st.integers(-50, 50))
    return Int(low, low + step * draw(st.integers(1, max_size)), step=step, condition=condition)


@st.composite
def categoricals(draw, condition=None, max_size=5):
    choices = draw(
        st.lists(
            CHOICE, min_size=1, max_size=max_size, unique_by=lambda c: (isinstance(c, bool), c)
        )
    )
    return Categorical(choices, condition=condition)


def _condition(draw, params):
    parents = [n for n, p in params.items() if p.kind in ("int", "categorical")]
    if not parents or not draw(st.booleans()):
        return None
    parent = draw(st.sampled_from(parents))
    values = params[parent].grid_values(parent)
    chosen = draw(st.lists(st.sampled_from(values), min_size=1, max_size=3))
    return (parent, tuple(chosen))


@st.composite
def spaces(draw, grid_only=False, conditional=True, max_params=5):
    """A SearchSpace of 1..max_params parameters, possibly conditional."""
    n = draw(st.integers(1, max_params))
    params = {}
    for i in range(n):
        cond = _condition(draw, params) if conditional else None
        kinds = [ints, categoricals] if grid_only else [floats, ints, categoricals]
        kind = draw(st.sampled_from(kinds))
        if grid_only and kind is ints:
            low, step = draw(st.integers(-5, 5)), draw(st.integers(1, 3))
            param = Int(low, low + step * draw(st.integers(1, 3)), step=step, condition=cond)
        elif grid_only:
            param = draw(categoricals(condition=cond, max_size=3))
        else:
            param = draw(kind(condition=cond))
        params[draw(st.sampled_from("abcdefgh")) + str(i)] = param
    # shuffle insertion order: the space must put parents first by itself
    names = draw(st.permutations(list(params)))
    return SearchSpace({k: params[k] for k in names})


@st.composite
def plain_grids(draw):
    """(space, param_grid) pairs of unconditional Categorical / Int parameters."""
    n = draw(st.integers(1, 4))
    names = draw(
        st.lists(st.text("abcxyz_", min_size=1, max_size=4), min_size=n, max_size=n, unique=True)
    )
    space, grid = {}, {}
    for name in names:
        if draw(st.booleans()):
            low, step = draw(st.integers(-5, 5)), draw(st.integers(1, 3))
            high = low + step * draw(st.integers(1, 3))
            space[name] = Int(low, high, step=step)
            grid[name] = list(range(low, high + 1, step))
        else:
            choices = draw(
                st.lists(
                    CHOICE, min_size=1, max_size=3, unique_by=lambda c: (isinstance(c, bool), c)
                )
            )
            space[name] = choices if draw(st.booleans()) else Categorical(choices)
            grid[name] = choices
    return SearchSpace(space), grid
