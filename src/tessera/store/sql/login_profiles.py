"""SQL store: login profiles (table ``login_profiles``, keyed by the user's unique
id) and the sealed hashes of replaced passwords (``password_history``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Row, delete, func, insert, select, update

from tessera.iam.account_model import LoginProfile
from tessera.store.sql import schema as s
from tessera.store.sql.engine import QUIET, SqlEngine, utc, utc_req


def _profile(row: Row[Any]) -> LoginProfile:
    return LoginProfile(
        account_id=row.account_id,
        user_id=row.user_id,
        password_sealed=bytes(row.password_sealed),
        created_at=utc_req(row.created_at),
        password_changed_at=utc_req(row.password_changed_at),
        reset_required=bool(row.reset_required),
        max_signin_session_duration=row.max_signin_session_duration,
        password_last_used=utc(row.password_last_used),
    )


class SqlLoginProfiles(SqlEngine):
    """Login profiles and password history."""

    def create_login_profile(self, profile: LoginProfile) -> None:
        self._insert_unique(
            s.login_profiles,
            dict(
                user_id=profile.user_id,
                account_id=profile.account_id,
                password_sealed=profile.password_sealed,
                created_at=profile.created_at,
                password_changed_at=profile.password_changed_at,
                reset_required=profile.reset_required,
                max_signin_session_duration=profile.max_signin_session_duration,
            ),
            profile.user_id,
        )

    def get_login_profile(self, user_id: str) -> LoginProfile | None:
        with self._tx() as conn:
            row = conn.execute(
                select(s.login_profiles).where(s.login_profiles.c.user_id == user_id)
            ).first()
        return None if row is None else _profile(row)

    def list_login_profiles(self, account_id: str) -> list[LoginProfile]:
        c = s.login_profiles.c
        with self._tx() as conn:
            rows = conn.execute(
                select(s.login_profiles).where(c.account_id == account_id).order_by(c.user_id)
            ).all()
        return [_profile(r) for r in rows]

    def set_login_password(
        self,
        user_id: str,
        password_sealed: bytes,
        changed_at: datetime,
        reset_required: bool,
        keep_history: int,
    ) -> bool:
        c, h = s.login_profiles.c, s.password_history.c
        with self._tx() as conn:
            old = conn.execute(
                select(c.password_sealed).where(c.user_id == user_id).with_for_update()
            ).scalar()
            if old is None:
                return False
            top = conn.execute(select(func.max(h.seq)).where(h.user_id == user_id)).scalar()
            seq = (top or 0) + 1
            conn.execute(
                insert(s.password_history).values(user_id=user_id, seq=seq, password_sealed=old)
            )
            conn.execute(
                delete(s.password_history).where(
                    (h.user_id == user_id) & (h.seq <= seq - max(keep_history, 0))
                )
            )
            conn.execute(
                update(s.login_profiles)
                .where(c.user_id == user_id)
                .values(
                    password_sealed=password_sealed,
                    password_changed_at=changed_at,
                    reset_required=reset_required,
                )
            )
        return True

    def update_login_profile(
        self,
        user_id: str,
        *,
        reset_required: bool | None = None,
        max_signin_session_duration: int | None = None,
        clear_max_signin_session_duration: bool = False,
    ) -> bool:
        c = s.login_profiles.c
        values: dict[str, Any] = {}
        if reset_required is not None:
            values["reset_required"] = reset_required
        if clear_max_signin_session_duration:
            values["max_signin_session_duration"] = None
        elif max_signin_session_duration is not None:
            values["max_signin_session_duration"] = max_signin_session_duration
        with self._tx() as conn:
            if not values:
                found = conn.execute(select(c.user_id).where(c.user_id == user_id)).first()
                return found is not None
            result = conn.execute(
                update(s.login_profiles).where(c.user_id == user_id).values(**values)
            )
            return bool(result.rowcount == 1)

    def password_history(self, user_id: str) -> list[bytes]:
        h = s.password_history.c
        with self._tx() as conn:
            rows = conn.execute(
                select(h.password_sealed).where(h.user_id == user_id).order_by(h.seq.desc())
            ).all()
        return [bytes(r.password_sealed) for r in rows]

    def record_password_use(self, user_id: str, now: datetime) -> None:
        with self._tx() as conn:
            conn.execute(
                update(s.login_profiles)
                .where(s.login_profiles.c.user_id == user_id)
                .values(password_last_used=now)
                .execution_options(**{QUIET: True})
            )

    def delete_login_profile(self, user_id: str) -> bool:
        with self._tx() as conn:
            conn.execute(delete(s.password_history).where(s.password_history.c.user_id == user_id))
            result = conn.execute(
                delete(s.login_profiles).where(s.login_profiles.c.user_id == user_id)
            )
            return bool(result.rowcount == 1)
