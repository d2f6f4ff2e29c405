"""The credential report: GenerateCredentialReport / GetCredentialReport.

The report is a CSV in AWS's column order, one row per IAM user after the
``<root_account>`` row, with AWS's placeholders (``N/A`` where a credential does
not exist, ``no_information`` for a password never used, ``not_supported`` for the
root's password columns). It is generated when asked for and kept per account; a
report older than four hours is expired (GetCredentialReport answers
ReportExpired and GenerateCredentialReport makes a new one). While one is being
written GetCredentialReport answers ReportInProgress. Signing certificates are not
stored by this server: their columns say ``false`` / ``N/A``.

Texts: **[C]** seen verbatim in real AWS answers, **[I]** inferred (AWS's
documentation of the error)."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from typing import Final

from tessera import arn as arns
from tessera.errors import ReportExpired, ReportInProgress, ReportNotPresent
from tessera.iam.account_model import LoginProfile, PasswordPolicy
from tessera.iam.model import AccessKey, User
from tessera.iam.ops_common import account_of, now_of
from tessera.iam.password_policy import expires_at
from tessera.operation import OperationContext, Result
from tessera.protocol.inputs import GenerateCredentialReportMembers, GetCredentialReportMembers
from tessera.protocol.query import Params
from tessera.registry import operation
from tessera.store.interface import Store

COLUMNS: Final = (
    "user",
    "arn",
    "user_creation_time",
    "password_enabled",
    "password_last_used",
    "password_last_changed",
    "password_next_rotation",
    "mfa_active",
    "access_key_1_active",
    "access_key_1_last_rotated",
    "access_key_1_last_used_date",
    "access_key_1_last_used_region",
    "access_key_1_last_used_service",
    "access_key_2_active",
    "access_key_2_last_rotated",
    "access_key_2_last_used_date",
    "access_key_2_last_used_region",
    "access_key_2_last_used_service",
    "cert_1_active",
    "cert_1_last_rotated",
    "cert_2_active",
    "cert_2_last_rotated",
)
ROOT_USER: Final = "<root_account>"
NA: Final = "N/A"
NO_INFORMATION: Final = "no_information"
NOT_SUPPORTED: Final = "not_supported"
#: a report older than this is expired
REPORT_LIFETIME: Final = timedelta(hours=4)
REPORT_FORMAT: Final = "text/csv"
#: a report still "being generated" after this was abandoned (a crashed process)
ABANDONED: Final = timedelta(minutes=5)
# [C] the first GenerateCredentialReport of an account (prowler-cloud/prowler#272)
STARTED: Final = "No report exists. Starting a new report generation task"
# [I] AWS's documentation of the errors
EXPIRED: Final = (
    "The request was rejected because the most recent credential report has expired. "
    "To generate a new credential report, use GenerateCredentialReport."
)
IN_PROGRESS: Final = (
    "The request was rejected because the credential report is still being generated."
)


def _time(value: datetime | None, missing: str = NA) -> str:
    return missing if value is None else value.replace(microsecond=0).isoformat()


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _key_columns(keys: list[AccessKey]) -> list[str]:
    out: list[str] = []
    for i in range(2):
        if i < len(keys):
            k = keys[i]
            out += [
                _flag(k.status == "Active"),
                _time(k.created_at),
                _time(k.last_used_at),
                k.last_used_region or NA,
                k.last_used_service or NA,
            ]
        else:
            out += ["false", NA, NA, NA, NA]
    return out


def _user_row(
    user: User,
    profile: LoginProfile | None,
    policy: PasswordPolicy | None,
    mfa_active: bool,
    keys: list[AccessKey],
) -> list[str]:
    if profile is None:
        password = ["false", NA, NA, NA]
    else:
        password = [
            "true",
            _time(profile.password_last_used, NO_INFORMATION),
            _time(profile.password_changed_at),
            _time(expires_at(profile.password_changed_at, policy)),
        ]
    return [
        user.name,
        user.arn,
        _time(user.created_at),
        *password,
        _flag(mfa_active),
        *_key_columns(keys),
        "false",
        NA,
        "false",
        NA,
    ]


def build_report(store: Store, account_id: str) -> bytes:
    """The CSV of ``account_id``'s credentials now."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    account = store.get_account(account_id)
    writer.writerow(
        [
            ROOT_USER,
            arns.root_arn(account_id),
            _time(None if account is None else account.created_at),
            NOT_SUPPORTED,
            NO_INFORMATION,
            NOT_SUPPORTED,
            NOT_SUPPORTED,
            "false",
            *_key_columns(store.list_access_keys(account_id, None)),
            "false",
            NA,
            "false",
            NA,
        ]
    )
    profiles = {p.user_id: p for p in store.list_login_profiles(account_id)}
    policy = store.get_password_policy(account_id)
    mfa_users = {
        d.user_name.lower()
        for d in store.list_mfa_devices(account_id, assigned=True)
        if d.user_name is not None
    }
    marker: str | None = None
    while True:
        page = store.list_users(account_id, "/", marker, 1000)
        for user in page.items:
            writer.writerow(
                _user_row(
                    user,
                    profiles.get(user.user_id),
                    policy,
                    user.name.lower() in mfa_users,
                    store.list_access_keys(account_id, user.name),
                )
            )
        if page.marker is None:
            break
        marker = page.marker
    return out.getvalue().rstrip("\n").encode()


@operation("iam", "GenerateCredentialReport", action="iam:GenerateCredentialReport")
def generate_credential_report(
    ctx: OperationContext, params: Params[GenerateCredentialReportMembers]
) -> Result:
    ctx.authorize("iam:GenerateCredentialReport", "*")
    account = account_of(ctx)
    current = ctx.store.get_credential_report(account)
    if current is not None and current.generated_at is None:
        if ctx.now - current.started_at < ABANDONED:
            return {"State": "INPROGRESS"}
    if current is not None and current.generated_at is not None:
        if ctx.now - current.generated_at < REPORT_LIFETIME:
            return {"State": "COMPLETE"}
    now = now_of(ctx)
    ctx.store.start_credential_report(account, now)
    ctx.store.finish_credential_report(account, build_report(ctx.store, account), now)
    return {"State": "STARTED", "Description": STARTED}


@operation("iam", "GetCredentialReport", action="iam:GetCredentialReport")
def get_credential_report(
    ctx: OperationContext, params: Params[GetCredentialReportMembers]
) -> Result:
    ctx.authorize("iam:GetCredentialReport", "*")
    report = ctx.store.get_credential_report(account_of(ctx))
    if report is None:
        raise ReportNotPresent("")  # [C] AWS answers without a message
    if report.generated_at is None or report.content is None:
        raise ReportInProgress(IN_PROGRESS)
    if ctx.now - report.generated_at >= REPORT_LIFETIME:
        raise ReportExpired(EXPIRED)
    return {
        "Content": report.content,
        "ReportFormat": REPORT_FORMAT,
        "GeneratedTime": report.generated_at,
    }
