"""Pure rules: durations, session tags, packed size, session restrictions, TOTP."""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime

import pyotp
import pytest

from tessera import arn as arns
from tessera.auth.principal import Principal, PrincipalKind, Session, SessionKind
from tessera.errors import (
    AccessDenied,
    InvalidClientTokenId,
    InvalidParameterValue,
    MalformedPolicyDocument,
    PackedPolicyTooLarge,
    ValidationError,
)
from tessera.iam import totp
from tessera.iam.model import Tag
from tessera.sts import durations, packing
from tessera.sts import tags as st
from tessera.sts.restrictions import session_restriction

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


# --- durations -----------------------------------------------------------------------


def test_assume_role_durations() -> None:
    assert durations.assume_role_seconds(None, 3600, False) == 3600
    assert durations.assume_role_seconds(43200, 43200, False) == 43200
    with pytest.raises(ValidationError, match="MaxSessionDuration set for this role"):
        durations.assume_role_seconds(3601, 3600, False)
    with pytest.raises(ValidationError, match=r"1 hour session limit .* role chaining"):
        durations.assume_role_seconds(3601, 43200, True)
    assert durations.assume_role_seconds(3600, 43200, True) == 3600
    assert durations.assume_role_seconds(None, 43200, True) == 3600


def test_token_durations() -> None:
    assert durations.token_seconds(None, False) == 43200
    assert durations.token_seconds(129600, False) == 129600
    assert durations.token_seconds(None, True) == 3600
    assert durations.token_seconds(129600, True) == 3600  # clamped silently
    assert durations.token_seconds(900, True) == 900


# --- tags ----------------------------------------------------------------------------


def test_tags_duplicates_and_transitive_subset() -> None:
    with pytest.raises(InvalidParameterValue, match="Duplicate tag keys"):
        st.build_session_tags([Tag("a", "1"), Tag("A", "2")], None)
    with pytest.raises(InvalidParameterValue, match="must be included in the requested tags"):
        st.build_session_tags([Tag("a", "1")], ["b"])
    with pytest.raises(InvalidParameterValue, match="reserved"):
        st.build_session_tags([Tag("aws:x", "1")], None)
    out = st.build_session_tags([Tag("Team", "x")], ["team"])
    assert out.transitive_keys == ("Team",)  # matched case-insensitively, case kept


def test_tags_inheritance_and_collisions() -> None:
    inherited = (Tag("Project", "p"), Tag("plain", "q"))
    out = st.build_session_tags([Tag("new", "n")], None, inherited, ("Project",))
    assert out.tags == (Tag("Project", "p"), Tag("new", "n"))  # only transitive tags carry
    assert out.carried == (Tag("Project", "p"),)
    assert out.transitive_keys == ("Project",)
    with pytest.raises(InvalidParameterValue, match="conflicts with a transitive tag key"):
        st.build_session_tags([Tag("project", "x")], None, inherited, ("Project",))
    # a non-transitive inherited tag may be set again
    st.build_session_tags([Tag("plain", "z")], None, inherited, ("Project",))


def test_tag_limit_counts_inherited() -> None:
    inherited = tuple(Tag(f"i{i}", "v") for i in range(30))
    keys = tuple(t.key for t in inherited)
    with pytest.raises(InvalidParameterValue):
        st.build_session_tags([Tag(f"n{i}", "v") for i in range(21)], None, inherited, keys)


def test_request_keys_and_principal_tags() -> None:
    keys = st.request_keys([Tag("a", "1"), Tag("B", "2")], ["a"])
    assert keys == {
        "aws:RequestTag/a": "1",
        "aws:RequestTag/B": "2",
        "aws:TagKeys": ("a", "B"),
        "sts:TransitiveTagKeys": ("a",),
    }
    assert st.principal_tags([Tag("Dept", "x"), Tag("k", "v")], [Tag("dept", "y")]) == {
        "dept": "y",
        "k": "v",
    }


# --- packing ---------------------------------------------------------------------------

POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
    },
    indent=4,
)


def test_packed_size_formula() -> None:
    assert packing.packed_size(None, (), ()).percent == 0
    small = packing.packed_size(POLICY, (), ())
    assert 1 <= small.percent <= 15
    # white space does not count (canonical form)
    assert packing.packed_size(json.dumps(json.loads(POLICY)), (), ()).percent == small.percent
    import math
    import zlib

    body = packing.canonical_policy(POLICY) + "\0\0"
    assert small.percent == math.ceil(100 * len(zlib.compress(body.encode(), 9)) / 1024)


def test_packed_too_large_messages() -> None:
    tags = [Tag(f"k{i}", secrets.token_hex(64)) for i in range(40)]
    packed = packing.packed_size(None, (), tags)
    assert packed.tags_percent > 100
    with pytest.raises(PackedPolicyTooLarge) as exc:
        packing.check_packed(packed)
    assert exc.value.message == (
        f"Packed size of session tags consumes {packed.tags_percent}% of allotted space."
    )
    with pytest.raises(PackedPolicyTooLarge) as exc2:
        packing.check_packed(packing.Packed(130, 10))
    assert exc2.value.message == (
        "Packed policy consumes 130% of allotted space, please use smaller policy."
    )


def test_session_policy_validation() -> None:
    packing.validate_session_policy(POLICY, ["arn:aws:iam::111111111111:policy/p"])
    with pytest.raises(MalformedPolicyDocument):
        packing.validate_session_policy("{", [])
    with pytest.raises(ValidationError):
        packing.validate_session_policy("x" * 2049, [])
    with pytest.raises(ValidationError):
        packing.validate_session_policy(None, [f"arn:aws:iam::1:policy/{i}" for i in range(11)])


# --- restrictions ----------------------------------------------------------------------


def _principal(kind: SessionKind | None, mfa: bool = False) -> Principal:
    acct = "111111111111"
    session = None
    if kind is not None:
        session = Session(
            kind=kind,
            account_id=acct,
            issued_at=NOW,
            expires_at=NOW,
            source_arn=arns.user_arn(acct, "/", "u"),
            source_id="AIDAX",
            source_name="u",
            session_name="n",
            mfa_authenticated=mfa,
        )
    pk = {
        None: PrincipalKind.USER,
        SessionKind.SESSION_TOKEN: PrincipalKind.USER,
        SessionKind.FEDERATION: PrincipalKind.FEDERATED_USER,
        SessionKind.ASSUMED_ROLE: PrincipalKind.ROLE_SESSION,
    }[kind]
    return Principal(pk, acct, "arn", "id", "arn", "u", "ASIAX", session)


def test_restrictions() -> None:
    long_term = _principal(None)
    assert session_restriction(long_term, "iam", "ListUsers") is None
    assert session_restriction(long_term, "sts", "GetSessionToken") is None

    gst = _principal(SessionKind.SESSION_TOKEN)
    assert isinstance(session_restriction(gst, "iam", "ListUsers"), InvalidClientTokenId)
    assert (
        session_restriction(_principal(SessionKind.SESSION_TOKEN, True), "iam", "ListUsers") is None
    )
    assert session_restriction(gst, "sts", "AssumeRole") is None
    assert session_restriction(gst, "sts", "GetCallerIdentity") is None
    err = session_restriction(gst, "sts", "GetSessionToken")
    assert isinstance(err, AccessDenied)
    assert err.message == "Cannot call GetSessionToken with session credentials"
    assert session_restriction(gst, "sts", "GetWebIdentityToken") is None  # AWS changed this

    fed = _principal(SessionKind.FEDERATION)
    assert session_restriction(fed, "sts", "GetCallerIdentity") is None
    assert isinstance(session_restriction(fed, "sts", "AssumeRole"), AccessDenied)
    assert isinstance(session_restriction(fed, "iam", "GetUser"), InvalidClientTokenId)

    role = _principal(SessionKind.ASSUMED_ROLE)
    assert session_restriction(role, "sts", "AssumeRole") is None
    assert session_restriction(role, "iam", "ListUsers") is None
    assert isinstance(session_restriction(role, "sts", "GetFederationToken"), AccessDenied)


# --- TOTP ------------------------------------------------------------------------------


def test_totp_window_and_steps() -> None:
    seed = totp.new_seed()
    assert len(seed) == 32
    ref = pyotp.TOTP(seed)
    t = NOW.timestamp()
    step = totp.time_step(NOW)
    assert totp.verify(seed, ref.at(t), NOW) == step
    assert totp.verify(seed, ref.at(t - 30), NOW) == step - 1
    assert totp.verify(seed, ref.at(t + 30), NOW) == step + 1
    assert totp.verify(seed, ref.at(t - 90), NOW) is None
    assert totp.verify(seed, "abcdef", NOW) is None
    assert totp.verify_consecutive(seed, ref.at(t - 30), ref.at(t), NOW) == step
    assert totp.verify_consecutive(seed, ref.at(t), ref.at(t - 30), NOW) is None
    assert totp.verify_consecutive(seed, ref.at(t - 600), ref.at(t - 570), NOW) is None
    assert (
        totp.verify_consecutive(seed, ref.at(t - 600), ref.at(t - 570), NOW, window=20) == step - 19
    )


def test_totp_replay_in_store(tmp_path: object) -> None:
    from tessera.iam.mfa_model import MfaDevice
    from tessera.kek import KeyEncryptionKey
    from tessera.store.sql import SqlStore

    store = SqlStore("sqlite://", KeyEncryptionKey(secrets.token_bytes(32)))
    store.migrate()
    store.create_account("111111111111", NOW)
    serial = "arn:aws:iam::111111111111:mfa/d"
    store.create_mfa_device(
        MfaDevice("111111111111", serial, "/", "d", store.kek.seal(b"S", "x"), NOW)
    )
    assert store.use_mfa_step(serial, 100)
    assert not store.use_mfa_step(serial, 100)  # same code again
    assert not store.use_mfa_step(serial, 99)  # an older code
    assert store.use_mfa_step(serial, 101)
    assert store.assign_mfa_device(serial, "bob", NOW, 101)
    assert not store.assign_mfa_device(serial, "eve", NOW, 102)
    assert [d.user_name for d in store.list_mfa_devices("111111111111", assigned=True)] == ["bob"]
    assert "S" not in repr(store.get_mfa_device(serial))
