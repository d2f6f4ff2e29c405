"""Hypothesis properties of the evaluator.

* an applicable explicit Deny always wins, whatever else is attached;
* removing an Allow statement never widens access;
* NotAction / NotResource are exact complements of Action / Resource for the
  same patterns.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from policy_helpers import ALICE, SESSION, ctx, pol

from tessera.iam.policy import PolicyKind, PolicySet, evaluate

SERVICES = ["s3", "iam", "sts", "ec2"]
NAMES = ["GetObject", "PutObject", "CreateUser", "AssumeRole", "RunInstances", "List"]
RESOURCES = [
    "arn:aws:s3:::b/k",
    "arn:aws:s3:::b/x/y",
    "arn:aws:iam::123456789012:user/alice",
    "arn:aws:iam::123456789012:role/Dev",
    "*",
]

action_names = st.builds(lambda s, n: f"{s}:{n}", st.sampled_from(SERVICES), st.sampled_from(NAMES))
action_patterns = st.one_of(
    action_names,
    st.just("*"),
    st.builds(lambda s: f"{s}:*", st.sampled_from(SERVICES)),
    st.builds(lambda s, n: f"{s}:{n[:3]}*", st.sampled_from(SERVICES), st.sampled_from(NAMES)),
    st.builds(lambda s, n: f"{s}:?{n[1:]}", st.sampled_from(SERVICES), st.sampled_from(NAMES)),
)
resource_patterns = st.one_of(
    st.sampled_from(RESOURCES),
    st.just("arn:aws:s3:::b/*"),
    st.just("arn:aws:iam::123456789012:*"),
    st.just("arn:aws:*:*:*:*"),
    st.just("arn:aws:s3:::b/?"),
)
conditions = st.one_of(
    st.none(),
    st.just({"StringEquals": {"aws:username": "alice"}}),
    st.just({"Bool": {"aws:SecureTransport": "true"}}),
    st.just({"ForAnyValue:StringLike": {"aws:TagKeys": ["team*"]}}),
    st.just({"StringNotEqualsIfExists": {"aws:PrincipalTag/x": "y"}}),
)


@st.composite
def statements(draw: st.DrawFn, effect: str | None = None) -> dict[str, Any]:
    s: dict[str, Any] = {"Effect": effect or draw(st.sampled_from(["Allow", "Deny"]))}
    acts = draw(st.lists(action_patterns, min_size=1, max_size=3))
    s["NotAction" if draw(st.booleans()) and draw(st.booleans()) else "Action"] = acts
    res = draw(st.lists(resource_patterns, min_size=1, max_size=3))
    s["NotResource" if draw(st.booleans()) and draw(st.booleans()) else "Resource"] = res
    cond = draw(conditions)
    if cond:
        s["Condition"] = cond
    return s


request_keys = st.fixed_dictionaries(
    {},
    optional={
        "aws:username": st.sampled_from(["alice", "bob"]),
        "aws:SecureTransport": st.sampled_from(["true", "false"]),
        "aws:TagKeys": st.lists(st.sampled_from(["team", "teamx", "cost"]), max_size=3).map(tuple),
        "aws:PrincipalTag/x": st.sampled_from(["y", "z"]),
    },
)


@st.composite
def requests(draw: st.DrawFn) -> Any:
    return ctx(
        action=draw(action_names),
        resource=draw(st.sampled_from(RESOURCES)),
        principal=draw(st.sampled_from([ALICE, SESSION])),
        keys=draw(request_keys),
    )


@settings(max_examples=300, deadline=None)
@given(
    identity=st.lists(statements(), min_size=1, max_size=5),
    boundary=st.one_of(st.none(), st.lists(statements(), min_size=1, max_size=3)),
    session=st.one_of(st.none(), st.lists(statements(), min_size=1, max_size=3)),
    request=requests(),
)
def test_explicit_deny_always_wins(
    identity: list[dict[str, Any]],
    boundary: list[dict[str, Any]] | None,
    session: list[dict[str, Any]] | None,
    request: Any,
) -> None:
    deny_stmt = _deny(request)
    where = len(identity) % 3
    ident_stmts = [*identity, *([deny_stmt] if where == 0 else [])]
    bound_stmts = [*(boundary or []), *([deny_stmt] if where == 1 else [])]
    sess_stmts = [*(session or []), *([deny_stmt] if where == 2 else [])]
    ps = PolicySet(
        identity=[pol(*ident_stmts)],
        boundary=pol(*bound_stmts) if bound_stmts else None,
        session=[pol(*sess_stmts)] if sess_stmts else None,
        scps=[[pol({"Effect": "Allow", "Action": "*", "Resource": "*"})]],
    )
    d = evaluate(request, ps)
    assert not d.allowed
    assert d.reason is not None and d.reason.explicit


def _deny(request: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Action": request.action, "Resource": request.resource}


@settings(max_examples=300, deadline=None)
@given(
    identity=st.lists(statements(), min_size=1, max_size=6),
    resource=st.lists(statements(), min_size=1, max_size=3),
    boundary=st.one_of(st.none(), st.lists(statements(), min_size=1, max_size=3)),
    request=requests(),
    data=st.data(),
)
def test_removing_an_allow_never_widens(
    identity: list[dict[str, Any]],
    resource: list[dict[str, Any]],
    boundary: list[dict[str, Any]] | None,
    request: Any,
    data: st.DataObject,
) -> None:
    res_stmts = [{**s, "Principal": {"AWS": request.principal.arn}} for s in resource]

    def decide(ident: list[dict[str, Any]], res: list[dict[str, Any]]) -> bool:
        ps = PolicySet(
            identity=[pol(*ident)] if ident else [],
            resource=pol(*res, kind=PolicyKind.RESOURCE) if res else None,
            boundary=pol(*boundary) if boundary else None,
        )
        return evaluate(request, ps).allowed

    before = decide(identity, res_stmts)
    pool = [("i", i) for i, s in enumerate(identity) if s["Effect"] == "Allow"]
    pool += [("r", i) for i, s in enumerate(res_stmts) if s["Effect"] == "Allow"]
    if not pool:
        return
    which, idx = data.draw(st.sampled_from(pool))
    ident2 = [s for i, s in enumerate(identity) if not (which == "i" and i == idx)]
    res2 = [s for i, s in enumerate(res_stmts) if not (which == "r" and i == idx)]
    after = decide(ident2, res2)
    assert not (after and not before)


@settings(max_examples=400, deadline=None)
@given(
    acts=st.lists(action_patterns, min_size=1, max_size=3),
    res=st.lists(resource_patterns, min_size=1, max_size=3),
    request=requests(),
)
def test_not_elements_are_exact_complements(acts: list[str], res: list[str], request: Any) -> None:
    def allowed(action_key: str, resource_key: str) -> bool:
        p = pol({"Effect": "Allow", action_key: acts, resource_key: res})
        return evaluate(request, PolicySet(identity=[p])).allowed

    star_res = pol({"Effect": "Allow", "Action": acts, "Resource": "*"})
    star_act = pol({"Effect": "Allow", "Action": "*", "Resource": res})
    not_act = pol({"Effect": "Allow", "NotAction": acts, "Resource": "*"})
    not_res = pol({"Effect": "Allow", "Action": "*", "NotResource": res})

    def ok(p: Any) -> bool:
        return evaluate(request, PolicySet(identity=[p])).allowed

    assert ok(star_res) != ok(not_act)
    assert ok(star_act) != ok(not_res)
    assert allowed("Action", "Resource") == (ok(star_res) and ok(star_act))
    assert allowed("NotAction", "NotResource") == (ok(not_act) and ok(not_res))
