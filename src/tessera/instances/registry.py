"""Registering and managing instances (what ``tessera instance …`` and the
automation API do): create an instance bound to an instance profile by its unique
id with a fresh single-use join token, list, show, disable, delete. Returns plain
dicts (the JSON the CLI prints); never returns or logs a join token except the
one ``create`` just made, and stores only its hash."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from tessera.instances import model
from tessera.instances.ca import ensure_ca
from tessera.instances.model import InstanceError
from tessera.store.accounts import AccountStore
from tessera.store.base import AlreadyExists
from tessera.store.instance_profiles import InstanceProfileStore
from tessera.store.instances import InstanceRecord, InstanceStore

#: instances listed per page
PAGE = 1000


class RegistryStore(InstanceStore, InstanceProfileStore, AccountStore, Protocol):
    """What the registry needs of the store."""


@dataclass(frozen=True)
class NewInstance:
    account_id: str
    instance_profile: str  # the profile's name
    region: str
    name: str | None = None
    private_ipv4: str | None = None
    network: str | None = None
    ttl_seconds: int = model.DEFAULT_TOKEN_TTL


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def describe(store: RegistryStore, inst: InstanceRecord) -> dict[str, object]:
    """The JSON view of an instance (no secrets)."""
    profile = store.get_instance_profile(inst.account_id, inst.profile_name)
    bound = profile is not None and profile.profile_id == inst.profile_id
    out: dict[str, object] = {
        "instance_id": inst.instance_id,
        "account_id": inst.account_id,
        "instance_arn": model.instance_arn(inst.region, inst.account_id, inst.instance_id),
        "instance_profile_name": inst.profile_name,
        "instance_profile_id": inst.profile_id,
        "instance_profile_arn": profile.arn if profile is not None and bound else None,
        "region": inst.region,
        "state": inst.state,
        "created": _iso(inst.created_at),
    }
    for key, value in (
        ("name", inst.name),
        ("private_ipv4", inst.private_ipv4),
        ("network", inst.network),
    ):
        if value is not None:
            out[key] = value
    return out


def create_instance(store: RegistryStore, req: NewInstance, now: datetime) -> dict[str, object]:
    """Register an instance; the answer carries its one-time join token."""
    now = now.replace(microsecond=0)
    if store.get_account(req.account_id) is None:
        raise InstanceError(f"no account {req.account_id}")
    profile = store.get_instance_profile(req.account_id, req.instance_profile)
    if profile is None:
        raise InstanceError(
            f"no instance profile {req.instance_profile!r} in account {req.account_id}"
        )
    ttl = model.check_ttl(req.ttl_seconds)
    ca = ensure_ca(store, now)
    token = model.new_join_token()
    expires = now + timedelta(seconds=ttl)
    for _ in range(3):
        record = InstanceRecord(
            instance_id=model.new_instance_id(),
            account_id=req.account_id,
            profile_name=profile.name,
            profile_id=profile.profile_id,
            region=model.check_region(req.region),
            state="enabled",
            created_at=now,
            name=model.check_name(req.name),
            private_ipv4=model.check_private_ipv4(req.private_ipv4),
            network=model.check_network(req.network),
        )
        try:
            store.create_instance(record, model.token_hash(token), expires)
            break
        except AlreadyExists:  # an id collision (2^68 ids): draw again
            continue
    else:  # pragma: no cover - astronomically unlikely
        raise InstanceError("could not allocate an instance id")
    return {
        "instance_id": record.instance_id,
        "join_token": token,
        "join_token_expires": _iso(expires),
        "ca_fingerprint": ca.fingerprint,
    }


def get(store: RegistryStore, instance_id: str) -> InstanceRecord:
    inst = store.get_instance(model.check_instance_id(instance_id))
    if inst is None:
        raise InstanceError(f"no instance {instance_id}")
    return inst


def list_all(store: RegistryStore, account_id: str | None) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    after: str | None = None
    while True:
        page = store.list_instances(account_id, after=after, limit=PAGE)
        out += [describe(store, i) for i in page]
        if len(page) < PAGE:
            return out
        after = page[-1].instance_id


def set_state(store: RegistryStore, instance_id: str, enabled: bool) -> dict[str, object]:
    get(store, instance_id)
    if not store.set_instance_state(instance_id, "enabled" if enabled else "disabled"):
        raise InstanceError(f"no instance {instance_id}")
    return describe(store, get(store, instance_id))


def delete(store: RegistryStore, instance_id: str) -> dict[str, object]:
    get(store, instance_id)
    if not store.delete_instance(instance_id):
        raise InstanceError(f"no instance {instance_id}")
    return {"instance_id": instance_id, "deleted": True}
