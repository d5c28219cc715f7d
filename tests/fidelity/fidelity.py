#!/usr/bin/env python3
"""Fidelity check: drive `handover sim` with DataRobot's official Python client (datarobot 3.20.0).

Uses only the `datarobot` package and the standard library. Every sharing write is checked twice:
against the simulator's inspection endpoint (GET <root>/__sim/state) and, where it matters, by
reading back through the client.

    python tests/fidelity/fidelity.py --endpoint http://127.0.0.1:PORT/api/v2 --token OLD_USER_TOKEN \
        [--admin-state-url http://127.0.0.1:PORT/__sim/state] [--seed tests/fidelity/seed.json]

`--token` is the token of the old owner ("your account" in the documentation's examples). The
other users' tokens come from the seed file (users are picked by username; see --*-user).
Prints one line per check and ends with "N passed, M failed"; exits 1 if anything failed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import traceback
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple

# Keep the client hermetic: no DATAROBOT_* variables and no ~/.config/datarobot/drconfig.yaml.
for _k in [k for k in os.environ if k.startswith("DATAROBOT_")]:
    del os.environ[_k]
os.environ["HOME"] = tempfile.mkdtemp(prefix="fidelity-home-")

import warnings  # noqa: E402

# datarobot 3.20.0's own Retry(allowed_methods={}) triggers a urllib3 FutureWarning; not our concern.
warnings.filterwarnings("ignore", category=FutureWarning, module=r"datarobot\.rest")

import datarobot as dr  # noqa: E402
from datarobot.client import set_client  # noqa: E402
from datarobot.enums import SHARING_RECIPIENT_TYPE  # noqa: E402
from datarobot.errors import ClientError  # noqa: E402
from datarobot.models.deployment.sharing import (  # noqa: E402
    DeploymentGrantSharedRoleWithId,
    DeploymentGrantSharedRoleWithUsername,
)
from datarobot.models.sharing import CatalogSharedRoleRequest, SharingAccess, SharingRole  # noqa: E402
from datarobot.models.user_blueprints.models import (  # noqa: E402
    GrantAccessControlWithIdValidator,
    GrantAccessControlWithUsernameValidator,
)

KINDS = [
    "project", "dataset", "data_source", "data_store", "calendar", "deployment", "use_case",
    "registered_model", "custom_model", "custom_task", "execution_environment", "file",
    "user_blueprint",
]

# Any wire role -> the simulator's normalised role.
NORMALISE = {
    "OWNER": "OWNER",
    "EDITOR": "EDITOR", "USER": "EDITOR", "READ_WRITE": "EDITOR",
    "CONSUMER": "CONSUMER", "READ_ONLY": "CONSUMER", "OBSERVER": "CONSUMER",
}

# The role names written for each kind (each kind's own vocabulary; same choice as handover's
# EntityKind::wire_role in src/model.rs).
USER_EDITOR = {"project", "deployment", "registered_model", "custom_model", "custom_task",
               "execution_environment"}


def wire_role(kind: str, role: str) -> str:
    if role == "OWNER":
        return "OWNER"
    if kind == "calendar":
        return "READ_WRITE" if role == "EDITOR" else "READ_ONLY"
    if role == "EDITOR" and kind in USER_EDITOR:
        return "USER"
    return role


# --------------------------------------------------------------------------------------------
# Reporting


class Report:
    def __init__(self) -> None:
        self.passed = 0
        self.failed = 0

    def ok(self, name: str, detail: str = "") -> None:
        self.passed += 1
        print(f"PASS {name}" + (f"  ({detail})" if detail else ""), flush=True)

    def fail(self, name: str, why: str) -> None:
        self.failed += 1
        print(f"FAIL {name}: {why}", flush=True)

    def check(self, name: str, cond: bool, why: str = "", detail: str = "") -> bool:
        if cond:
            self.ok(name, detail)
        else:
            self.fail(name, why or "condition false")
        return cond


R = Report()


class Abort(Exception):
    """Stops the current sequence of dependent checks (already reported as a failure)."""


def step(name: str, fn: Callable[[], Any]) -> Any:
    """Run fn; report PASS if it returns without raising, FAIL (and raise Abort) otherwise."""
    try:
        value = fn()
    except Abort:
        raise
    except Exception as e:  # noqa: BLE001
        R.fail(name, describe(e))
        raise Abort() from e
    R.ok(name)
    return value


def describe(e: BaseException) -> str:
    if isinstance(e, ClientError):
        return f"ClientError {e.status_code}: {str(e)[:300]}"
    tb = traceback.extract_tb(e.__traceback__)
    where = f" at {tb[-1].filename.split('site-packages/')[-1]}:{tb[-1].lineno}" if tb else ""
    return f"{type(e).__name__}: {str(e)[:300]}{where}"


# --------------------------------------------------------------------------------------------
# Simulator inspection


class Sim:
    def __init__(self, state_url: str, stats_url: str) -> None:
        self.state_url = state_url
        self.stats_url = stats_url

    @staticmethod
    def _get(url: str) -> Any:
        with urllib.request.urlopen(url, timeout=10) as resp:  # noqa: S310 (local URL)
            return json.loads(resp.read().decode("utf-8"))

    def state(self) -> Dict[str, Any]:
        return self._get(self.state_url)

    def stats(self) -> Dict[str, Any]:
        return self._get(self.stats_url)

    def entity(self, kind: str, eid: str) -> Optional[Dict[str, Any]]:
        for e in self.state()["entities"]:
            if e["kind"] == kind and e["id"] == eid:
                return e
        return None

    def access(self, kind: str, eid: str) -> Dict[str, Tuple[str, Optional[bool]]]:
        """username -> (normalised role, canShare) for user recipients."""
        e = self.entity(kind, eid)
        if e is None:
            raise AssertionError(f"{kind} {eid} missing from /__sim/state")
        return {a["username"]: (a["role"], a.get("canShare"))
                for a in e["access"] if a.get("recipientType", "user") == "user"}

    def entities_of(self, kind: str) -> List[Dict[str, Any]]:
        return [e for e in self.state()["entities"] if e["kind"] == kind]

    def find(self, kind: str, name: str) -> Dict[str, Any]:
        hits = [e for e in self.entities_of(kind) if e["name"] == name]
        if len(hits) != 1:
            raise AssertionError(f"expected one {kind} named {name!r} in state, found {len(hits)}")
        return hits[0]


def roles_only(acc: Dict[str, Tuple[str, Optional[bool]]]) -> Dict[str, str]:
    return {u: r for u, (r, _) in acc.items()}


# --------------------------------------------------------------------------------------------
# Users


@dataclass(frozen=True)
class User:
    username: str
    id: str
    token: Optional[str] = None


NOBODY = User("nobody-here@datarobot.com", "5f00000000000000000000ff")


@dataclass
class Change:
    user: User
    role: Optional[str]  # normalised role (OWNER/EDITOR/CONSUMER), None = revoke
    can_share: Optional[bool] = None
    wire: Optional[str] = None  # explicit wire role name (overrides the kind's vocabulary)


# --------------------------------------------------------------------------------------------
# Per-kind adapters: how the official client lists, gets, reads access and shares each kind.
# `mode` selects the recipient identification: "A" = by username/name, "B" = by user id.


@dataclass
class AccessEntry:
    username: Optional[str]
    user_id: Optional[str]
    role: str
    can_share: Optional[bool]


class Adapter:
    kind = ""

    def list(self) -> List[Tuple[str, str]]:
        raise NotImplementedError

    def get(self, eid: str) -> Any:
        raise NotImplementedError

    def ident(self, obj: Any) -> Tuple[str, str]:
        raise NotImplementedError

    def read(self, obj: Any) -> List[AccessEntry]:
        raise NotImplementedError

    def write(self, obj: Any, changes: List[Change], mode: str) -> None:
        raise NotImplementedError

    def role_of(self, c: Change) -> Optional[str]:
        if c.wire is not None:
            return c.wire
        return None if c.role is None else wire_role(self.kind, c.role)


class ACAdapter(Adapter):
    """accessControl kinds: read SharingAccess list; write [{username, role|null, canShare}]."""

    cls: Any = None
    name_attr = "name"

    def list(self):
        return [(o.id, getattr(o, self.name_attr)) for o in self.cls.list()]

    def get(self, eid):
        return self.cls.get(eid)

    def ident(self, obj):
        return obj.id, getattr(obj, self.name_attr)

    def read(self, obj):
        return [AccessEntry(a.username, a.user_id, a.role, a.can_share) for a in obj.get_access_list()]

    def accesses(self, changes):
        return [SharingAccess(c.user.username, self.role_of(c), can_share=c.can_share) for c in changes]

    def write(self, obj, changes, mode):
        obj.share(self.accesses(changes))


class ProjectAdapter(ACAdapter):
    kind, cls, name_attr = "project", dr.Project, "project_name"


class DataSourceAdapter(ACAdapter):
    kind, cls, name_attr = "data_source", dr.DataSource, "canonical_name"


class CustomModelAdapter(ACAdapter):
    kind, cls = "custom_model", dr.CustomInferenceModel


class CustomTaskAdapter(ACAdapter):
    kind, cls = "custom_task", dr.CustomTask


class ExecutionEnvironmentAdapter(ACAdapter):
    kind, cls = "execution_environment", dr.ExecutionEnvironment


class CalendarAdapter(ACAdapter):
    kind, cls = "calendar", dr.CalendarFile

    def read(self, obj):
        return [AccessEntry(a.username, a.user_id, a.role, a.can_share)
                for a in dr.CalendarFile.get_access_list(obj.id)]

    def write(self, obj, changes, mode):
        status = dr.CalendarFile.share(obj.id, self.accesses(changes))
        if not 200 <= status < 300:
            raise AssertionError(f"calendar share returned {status}")


def catalog_requests(adapter: Adapter, changes: List[Change], mode: str) -> List[CatalogSharedRoleRequest]:
    out = []
    for c in changes:
        role = adapter.role_of(c) or "NO_ROLE"
        kw = {"name": c.user.username} if mode == "A" else {"id": c.user.id}
        out.append(CatalogSharedRoleRequest(role=role, share_recipient_type=SHARING_RECIPIENT_TYPE.USER,
                                            can_share=bool(c.can_share), **kw))
    return out


class DatasetAdapter(Adapter):
    """Datasets: read = catalog sharedRoles; mode A writes accessControl (Dataset.share),
    mode B writes sharedRoles (Dataset.modify_shared_roles)."""

    kind = "dataset"

    def list(self):
        return [(o.id, o.name) for o in dr.Dataset.list()]

    def get(self, eid):
        return dr.Dataset.get(eid)

    def ident(self, obj):
        return obj.id, obj.name

    def read(self, obj):
        return [AccessEntry(r.name, r.id, r.role, r.can_share) for r in obj.get_shared_roles()]

    def write(self, obj, changes, mode):
        if mode == "A":
            obj.share([SharingAccess(c.user.username, self.role_of(c), can_share=c.can_share) for c in changes])
        else:
            obj.modify_shared_roles(catalog_requests(self, changes, mode))


class FileAdapter(Adapter):
    kind = "file"

    def list(self):
        return [(o.id, o.name) for o in dr.Files.search_catalog()]

    def get(self, eid):
        return dr.Files.get(eid)

    def ident(self, obj):
        return obj.id, obj.name

    def read(self, obj):
        return [AccessEntry(r.name, r.id, r.role, r.can_share) for r in obj.get_shared_roles()]

    def write(self, obj, changes, mode):
        obj.modify_shared_roles(catalog_requests(self, changes, mode))


def sharing_roles(adapter: Adapter, changes: List[Change], mode: str) -> List[SharingRole]:
    out = []
    for c in changes:
        role = adapter.role_of(c) or "NO_ROLE"
        kw = {"username": c.user.username} if mode == "A" else {"id": c.user.id}
        out.append(SharingRole(role=role, share_recipient_type=SHARING_RECIPIENT_TYPE.USER,
                               can_share=c.can_share, **kw))
    return out


class SRAdapter(Adapter):
    """sharedRoles kinds parsed leniently (SharingRole): data stores, use cases, registered models."""

    cls: Any = None
    name_attr = "name"

    def list(self):
        return [(o.id, getattr(o, self.name_attr)) for o in self.cls.list()]

    def get(self, eid):
        return self.cls.get(eid)

    def ident(self, obj):
        return obj.id, getattr(obj, self.name_attr)

    def read(self, obj):
        return [AccessEntry(r.username, r.id, str(r.role), r.can_share) for r in obj.get_shared_roles()]

    def write(self, obj, changes, mode):
        obj.share(sharing_roles(self, changes, mode))


class DataStoreAdapter(SRAdapter):
    kind, cls, name_attr = "data_store", dr.DataStore, "canonical_name"


class UseCaseAdapter(SRAdapter):
    kind, cls = "use_case", dr.UseCase

    def list(self):
        # Without showOrgUseCases a caller sees only the use cases they are a member of,
        # administrator or not (contract C4); handover asks for the organization's.
        return [(o.id, o.name) for o in dr.UseCase.list(search_params={"showOrgUseCases": True})]


class RegisteredModelAdapter(SRAdapter):
    kind, cls = "registered_model", dr.RegisteredModel


class DeploymentAdapter(Adapter):
    """Deployments: strict sharedRoles read; mode A = Deployment.share(SharingRole by username),
    mode B = Deployment.update_shared_roles(DeploymentGrantSharedRoleWithId)."""

    kind = "deployment"

    def list(self):
        return [(o.id, o.label) for o in dr.Deployment.list()]

    def get(self, eid):
        return dr.Deployment.get(eid)

    def ident(self, obj):
        return obj.id, obj.label

    def read(self, obj):
        return [AccessEntry(r.name, r.id, r.role, None) for r in obj.list_shared_roles()]

    def write(self, obj, changes, mode):
        if mode == "A":
            obj.share(sharing_roles(self, changes, mode))
        else:
            roles: List[Any] = []
            for c in changes:
                role = self.role_of(c) or "NO_ROLE"
                if c.user is NOBODY:
                    roles.append(DeploymentGrantSharedRoleWithUsername(role=role, username=c.user.username))
                else:
                    roles.append(DeploymentGrantSharedRoleWithId(id=c.user.id, role=role))
            obj.update_shared_roles(roles)


class UserBlueprintAdapter(Adapter):
    """User blueprints: no name field on the wire; the entity's name is served as `modelType`."""

    kind = "user_blueprint"

    def list(self):
        return [(o.user_blueprint_id, o.model_type) for o in dr.UserBlueprint.list()]

    def get(self, eid):
        return dr.UserBlueprint.get(eid)

    def ident(self, obj):
        return obj.user_blueprint_id, obj.model_type

    def read(self, obj):
        return [AccessEntry(r.name, r.id, r.role, None)
                for r in dr.UserBlueprint.list_shared_roles(obj.user_blueprint_id)]

    def write(self, obj, changes, mode):
        roles: List[Any] = []
        for c in changes:
            role = self.role_of(c) or "NO_ROLE"
            if mode == "A" or c.user is NOBODY:
                roles.append(GrantAccessControlWithUsernameValidator(role=role, share_recipient_type="user",
                                                                     username=c.user.username))
            else:
                roles.append(GrantAccessControlWithIdValidator(id=c.user.id, role=role, share_recipient_type="user"))
        resp = dr.UserBlueprint.update_shared_roles(obj.user_blueprint_id, roles)
        if not 200 <= resp.status_code < 300:
            raise AssertionError(f"userBlueprints sharedRoles PATCH returned {resp.status_code}")


ADAPTERS: Dict[str, Adapter] = {a.kind: a for a in [
    ProjectAdapter(), DatasetAdapter(), DataSourceAdapter(), DataStoreAdapter(), CalendarAdapter(),
    DeploymentAdapter(), UseCaseAdapter(), RegisteredModelAdapter(), CustomModelAdapter(),
    CustomTaskAdapter(), ExecutionEnvironmentAdapter(), FileAdapter(), UserBlueprintAdapter(),
]}
assert sorted(ADAPTERS) == sorted(KINDS)


# --------------------------------------------------------------------------------------------
# Checks


class Ctx:
    def __init__(self, args: argparse.Namespace, sim: Sim, users: Dict[str, User]) -> None:
        self.args = args
        self.sim = sim
        self.users = users
        self.clients: Dict[str, Any] = {}

    def as_user(self, who: str) -> None:
        """Make `who` (admin/old/new/third) the acting user of every client call that follows."""
        if who not in self.clients:
            u = self.users[who]
            self.clients[who] = dr.Client(endpoint=self.args.endpoint, token=u.token)
        set_client(self.clients[who])


def compare_access(ctx: Ctx, kind: str, eid: str, entries: List[AccessEntry]) -> Optional[str]:
    """Compare an access list read through the client with /__sim/state. None = identical."""
    expected = ctx.sim.access(kind, eid)
    by_name = {u.username: u for u in ctx.users.values()}
    got: Dict[str, str] = {}
    problems = []
    for e in entries:
        if e.username is None:
            problems.append(f"entry without username/name: {e}")
            continue
        norm = NORMALISE.get(str(e.role))
        if norm is None:
            problems.append(f"{e.username}: unexpected role {e.role!r}")
            continue
        if e.username in got:
            problems.append(f"{e.username} listed twice")
        got[e.username] = norm
        if e.user_id is not None and e.username in by_name and by_name[e.username].id != e.user_id:
            problems.append(f"{e.username}: id {e.user_id} != {by_name[e.username].id}")
        want_cs = expected.get(e.username, (None, None))[1]
        if e.can_share is not None and want_cs is not None and e.can_share != want_cs:
            problems.append(f"{e.username}: canShare {e.can_share} != state {want_cs}")
    if got != roles_only(expected):
        problems.append(f"client read {got} but state has {roles_only(expected)}")
    return "; ".join(problems) or None


def expect_state(ctx: Ctx, name: str, kind: str, eid: str, want: Dict[str, Optional[str]],
                 can_share: Optional[Dict[str, bool]] = None) -> None:
    """want: username -> normalised role, or None meaning 'must have no access'."""
    acc = ctx.sim.access(kind, eid)
    bad = []
    for user, role in want.items():
        have = acc.get(user, (None, None))[0]
        if have != role:
            bad.append(f"{user}: state {have}, expected {role}")
    for user, cs in (can_share or {}).items():
        have = acc.get(user, (None, None))[1]
        if have != cs:
            bad.append(f"{user}: state canShare {have}, expected {cs}")
    owners = [u for u, (r, _) in acc.items() if r == "OWNER"]
    if not owners:
        bad.append("entity has no OWNER left")
    R.check(name, not bad, "; ".join(bad))


def expect_refused(ctx: Ctx, name: str, kind: str, eid: str, fn: Callable[[], Any],
                   fragment: Optional[str] = None) -> None:
    before = ctx.sim.access(kind, eid)
    try:
        fn()
    except ClientError as e:
        problems = []
        if not 400 <= e.status_code < 500:
            problems.append(f"status {e.status_code}")
        if not (isinstance(e.json, dict) and isinstance(e.json.get("message"), str)):
            problems.append(f"error body is not JSON with a string 'message' (Content-Type must be "
                            f"exactly application/json): json={e.json!r} text={str(e)[:200]!r}")
        elif fragment and fragment.lower() not in e.json["message"].lower():
            problems.append(f"message {e.json['message']!r} lacks {fragment!r}")
        after = ctx.sim.access(kind, eid)
        if after != before:
            problems.append(f"state changed although refused: {before} -> {after}")
        R.check(name, not problems, "; ".join(problems), detail=f"{e.status_code}")
        return
    except Exception as e:  # noqa: BLE001
        R.fail(name, f"expected ClientError 4xx, got {describe(e)}")
        return
    R.fail(name, f"expected ClientError 4xx, the write succeeded; state now {ctx.sim.access(kind, eid)}")


def visible_to(ctx: Ctx, kind: str, username: str) -> set:
    return {e["id"] for e in ctx.sim.entities_of(kind)
            if any(a["username"] == username for a in e["access"])}


def run_kind(ctx: Ctx, kind: str) -> None:
    ad = ADAPTERS[kind]
    U = ctx.users
    old, new, third, inactive = U["old"], U["new"], U["third"], U["inactive"]
    ent_a = ctx.sim.find(kind, f"{kind.replace('_', ' ')} A")
    ent_b = ctx.sim.find(kind, f"{kind.replace('_', ' ')} B")
    ent_n = ctx.sim.find(kind, f"{kind.replace('_', ' ')} N")
    a_id, b_id, n_id = ent_a["id"], ent_b["id"], ent_n["id"]
    p = f"[{kind}]"

    # ---- as the old owner: entity A (recipients by username)
    ctx.as_user("old")
    try:
        want = visible_to(ctx, kind, old.username)
        listed = step(f"{p} list as old owner", ad.list)
        ids = [i for i, _ in listed]
        R.check(f"{p} list as old owner = entities old owner can access", set(ids) == want and
                len(ids) == len(set(ids)), f"listed {sorted(ids)}, state says {sorted(want)}")
        names = dict(listed)
        R.check(f"{p} list item name", names.get(a_id) == ent_a["name"],
                f"{names.get(a_id)!r} != {ent_a['name']!r}")

        obj = step(f"{p} get A", lambda: ad.get(a_id))
        R.check(f"{p} get A returns id and name", ad.ident(obj) == (a_id, ent_a["name"]),
                f"got {ad.ident(obj)}")
        entries = step(f"{p} read access list of A", lambda: ad.read(obj))
        diff = compare_access(ctx, kind, a_id, entries)
        R.check(f"{p} access list of A matches state", diff is None, diff or "")

        step(f"{p} grant third user EDITOR on A",
             lambda: ad.write(obj, [Change(third, "EDITOR", can_share=False)], "A"))
        expect_state(ctx, f"{p} state after grant", kind, a_id, {third.username: "EDITOR", old.username: "OWNER"})
        entries = step(f"{p} re-read access list of A (has an EDITOR)", lambda: ad.read(obj))
        diff = compare_access(ctx, kind, a_id, entries)
        R.check(f"{p} re-read access list of A matches state", diff is None, diff or "")

        expect_refused(ctx, f"{p} refuses removing the last owner", kind, a_id,
                       lambda: ad.write(obj, [Change(old, None)], "A"))
        expect_refused(ctx, f"{p} refuses demoting the last owner", kind, a_id,
                       lambda: ad.write(obj, [Change(old, "CONSUMER")], "A"))
        expect_refused(ctx, f"{p} refuses a duplicate user in one request", kind, a_id,
                       lambda: ad.write(obj, [Change(new, "CONSUMER"), Change(new, "EDITOR")], "A"),
                       "Multiple changes were specified for a single user")
        expect_refused(ctx, f"{p} refuses an unknown user", kind, a_id,
                       lambda: ad.write(obj, [Change(NOBODY, "CONSUMER")], "A"),
                       "The following users were not found")
        expect_refused(ctx, f"{p} refuses an inactive user", kind, a_id,
                       lambda: ad.write(obj, [Change(inactive, "CONSUMER")], "A"))

        step(f"{p} transfer A: new OWNER + old revoked in one request",
             lambda: ad.write(obj, [Change(new, "OWNER", can_share=True), Change(old, None)], "A"))
        expect_state(ctx, f"{p} state after transfer of A", kind, a_id,
                     {new.username: "OWNER", old.username: None, third.username: "EDITOR"})
        try:
            ad.get(a_id)
            R.fail(f"{p} old owner can no longer read A", "GET still succeeds")
        except ClientError as e:
            R.check(f"{p} old owner can no longer read A", 400 <= e.status_code < 500, f"status {e.status_code}",
                    detail=str(e.status_code))
        except Exception as e:  # noqa: BLE001
            R.fail(f"{p} old owner can no longer read A", f"expected ClientError 4xx, got {describe(e)}")
        R.check(f"{p} old owner no longer lists A", a_id not in {i for i, _ in ad.list()})
    except Abort:
        R.fail(f"{p} old-owner sequence", "aborted after the failure above")

    # ---- as the org admin: entity B (recipients by id) and N
    ctx.as_user("admin")
    try:
        all_ids = {e["id"] for e in ctx.sim.entities_of(kind)}
        listed = step(f"{p} list as admin", ad.list)
        ids = {i for i, _ in listed}
        R.check(f"{p} admin lists every {kind}", ids >= all_ids, f"missing {sorted(all_ids - ids)}")

        obj = step(f"{p} get B as admin", lambda: ad.get(b_id))
        R.check(f"{p} get B returns id and name", ad.ident(obj) == (b_id, ent_b["name"]), f"got {ad.ident(obj)}")
        entries = step(f"{p} read access list of B as admin", lambda: ad.read(obj))
        diff = compare_access(ctx, kind, b_id, entries)
        R.check(f"{p} access list of B matches state", diff is None, diff or "")

        step(f"{p} transfer B by user id: new OWNER + old demoted to CONSUMER",
             lambda: ad.write(obj, [Change(new, "OWNER", can_share=True), Change(old, "CONSUMER")], "B"))
        expect_state(ctx, f"{p} state after transfer of B", kind, b_id,
                     {new.username: "OWNER", old.username: "CONSUMER", third.username: "CONSUMER"})
        step(f"{p} revoke third user on B by id", lambda: ad.write(obj, [Change(third, None)], "B"))
        expect_state(ctx, f"{p} state after revoke on B", kind, b_id,
                     {new.username: "OWNER", old.username: "CONSUMER", third.username: None})
        entries = step(f"{p} re-read access list of B", lambda: ad.read(obj))
        diff = compare_access(ctx, kind, b_id, entries)
        R.check(f"{p} re-read access list of B matches state", diff is None, diff or "")
        step(f"{p} revoke old owner on B by id", lambda: ad.write(obj, [Change(old, None)], "B"))
        expect_state(ctx, f"{p} state after revoking old owner on B", kind, b_id,
                     {new.username: "OWNER", old.username: None})
        if kind in ("project", "data_source"):
            # The sharing guide: generic READ_WRITE / READ_ONLY work for any entity.
            step(f"{p} generic role READ_WRITE accepted",
                 lambda: ad.write(obj, [Change(third, "EDITOR", wire="READ_WRITE")], "B"))
            expect_state(ctx, f"{p} READ_WRITE stored as EDITOR", kind, b_id, {third.username: "EDITOR"})
            step(f"{p} generic role READ_ONLY accepted",
                 lambda: ad.write(obj, [Change(third, "CONSUMER", wire="READ_ONLY")], "B"))
            expect_state(ctx, f"{p} READ_ONLY stored as CONSUMER", kind, b_id, {third.username: "CONSUMER"})

        obj_n = step(f"{p} get N as admin", lambda: ad.get(n_id))
        expect_refused(ctx, f"{p} admin: refuses removing the last owner by id", kind, n_id,
                       lambda: ad.write(obj_n, [Change(new, None)], "B"))
        expect_refused(ctx, f"{p} admin: refuses a duplicate user by id", kind, n_id,
                       lambda: ad.write(obj_n, [Change(third, "CONSUMER"), Change(third, None)], "B"),
                       "Multiple changes were specified for a single user")
    except Abort:
        R.fail(f"{p} admin sequence", "aborted after the failure above")


# --------------------------------------------------------------------------------------------
# The three examples of the sharing guide (docs.datarobot.com .../python/admin/sharing.html),
# verbatim except for endpoint, token and the placeholder entity id.


def example_1(ctx: Ctx) -> None:
    """Transfer access to the data source from old_user@datarobot.com to new_user@datarobot.com."""
    ctx.as_user("old")
    ds_id = ctx.sim.find("data_source", "my-data-source (example 1)")["id"]  # was 'my-data-source-id'

    def run():
        new_access = dr.SharingAccess(
            "new_user@datarobot.com",
            dr.enums.SHARING_ROLE.OWNER,
            can_share=True,
        )
        access_list = [dr.SharingAccess("old_user@datarobot.com", None), new_access]

        dr.DataSource.get(ds_id).share(access_list)

    try:
        step("[example 1] DataSource.get(...).share(transfer old -> new)", run)
        expect_state(ctx, "[example 1] state: new_user OWNER (canShare), old_user gone", "data_source", ds_id,
                     {"new_user@datarobot.com": "OWNER", "old_user@datarobot.com": None},
                     can_share={"new_user@datarobot.com": True})
    except Abort:
        pass


def example_2(ctx: Ctx) -> None:
    """To check access to a project."""
    ctx.as_user("old")
    try:
        if ctx.args.project_create:
            workdir = tempfile.mkdtemp(prefix="fidelity-ex2-")
            with open(os.path.join(workdir, "mydata.csv"), "w") as f:
                f.write("a,b,target\n1,2,0\n3,4,1\n5,6,0\n")
            cwd = os.getcwd()
            os.chdir(workdir)
            try:
                project = step("[example 2] Project.create('mydata.csv', project_name='My Data')",
                               lambda: dr.Project.create('mydata.csv', project_name='My Data'))
            finally:
                os.chdir(cwd)
            st = ctx.sim.entity("project", project.id)
            R.check("[example 2] created project is in state, owned by old_user",
                    st is not None and st["name"] == "My Data"
                    and roles_only(ctx.sim.access("project", project.id)) == {"old_user@datarobot.com": "OWNER"},
                    f"state entity: {st}")
        else:
            # Project creation (multipart upload + async status polling) is optional in the
            # simulator, so by default this example starts from an existing seeded project:
            # dr.Project.get(...) replaces dr.Project.create('mydata.csv', project_name='My Data').
            pid = ctx.sim.find("project", "project C (example 3)")["id"]
            project = step("[example 2] Project.get(existing project) (stands in for Project.create)",
                           lambda: dr.Project.get(pid))

        access_list = step("[example 2] project.get_access_list()", project.get_access_list)

        first = access_list[0].username if access_list else None
        members = roles_only(ctx.sim.access("project", project.id))
        R.check("[example 2] access_list[0].username is a member", first in members,
                f"{first!r} not in {sorted(members)}", detail=str(first))
        diff = compare_access(ctx, "project", project.id,
                              [AccessEntry(a.username, a.user_id, a.role, a.can_share) for a in access_list])
        R.check("[example 2] access list matches state", diff is None, diff or "")
    except Abort:
        pass


def example_3(ctx: Ctx) -> None:
    """Transfer ownership of all projects owned by your account without sending notifications."""
    ydir = tempfile.mkdtemp(prefix="fidelity-ex3-")
    yaml_path = os.path.join(ydir, "drconfig.yaml")
    with open(yaml_path, "w") as f:
        f.write(f"endpoint: {json.dumps(ctx.args.endpoint)}\ntoken: {json.dumps(ctx.users['old'].token)}\n")
    try:
        notes_before = ctx.sim.stats().get("notifications")
        expected_ids = visible_to(ctx, "project", "old_user@datarobot.com")
        before = {pid: ctx.sim.access("project", pid) for pid in expected_ids}
    except Exception as e:  # noqa: BLE001
        R.fail("[example 3] read simulator state/stats", describe(e))
        return
    seen: Dict[str, List[str]] = {}

    def run():
        # Put path to YAML credentials below
        dr.Client(config_path=yaml_path)

        # Get all projects for your account and store the ids in a list
        projects = dr.Project.list()

        project_ids = [project.id for project in projects]
        seen["ids"] = project_ids

        # List of emails to share with
        share_targets = ['new_user@datarobot.com']

        # Target role
        target_role = dr.enums.SHARING_ROLE.OWNER

        for pid in project_ids:

            project = dr.Project.get(project_id=pid)

            shares = []

            for user in share_targets:

                shares.append(dr.SharingAccess(username=user, role=target_role))

            project.share(shares, send_notification=False)

    try:
        step("[example 3] dr.Client(config_path=...) + share all projects with new_user", run)
    except Abort:
        return
    ids = seen.get("ids", [])
    R.check("[example 3] Project.list() = projects old_user can access", set(ids) == expected_ids,
            f"listed {sorted(ids)}, state {sorted(expected_ids)}")
    bad = []
    for pid in ids:
        acc = ctx.sim.access("project", pid)
        if acc.get("new_user@datarobot.com", (None,))[0] != "OWNER":
            bad.append(f"{pid}: new_user {acc.get('new_user@datarobot.com')}")
        others_before = {u: r for u, r in before.get(pid, {}).items() if u != "new_user@datarobot.com"}
        others_after = {u: r for u, r in acc.items() if u != "new_user@datarobot.com"}
        if roles_only(others_after) != roles_only(others_before):
            bad.append(f"{pid}: other members changed {others_before} -> {others_after}")
    R.check("[example 3] every listed project: new_user OWNER, other members untouched", not bad, "; ".join(bad))
    try:
        notes_after = ctx.sim.stats().get("notifications")
        R.check("[example 3] send_notification=False sent no notification",
                isinstance(notes_before, int) and notes_after == notes_before,
                f"notifications {notes_before} -> {notes_after}")
    except Exception as e:  # noqa: BLE001
        R.fail("[example 3] read /__sim/stats", describe(e))


# --------------------------------------------------------------------------------------------


def handshake_checks(ctx: Ctx) -> None:
    def bad_token():
        try:
            dr.Client(endpoint=ctx.args.endpoint, token="definitely-not-a-token")
        except ClientError as e:
            if e.status_code != 401:
                raise AssertionError(f"status {e.status_code}, expected 401") from e
            return
        raise AssertionError("a bad token was accepted by GET version/")

    try:
        step("[handshake] dr.Client(endpoint, token) as old owner (GET version/)", lambda: ctx.as_user("old"))
        step("[handshake] dr.Client as admin", lambda: ctx.as_user("admin"))
        step("[handshake] an unknown token is refused with 401", bad_token)
        step("[handshake] 'Authorization: Bearer <token>' accepted too",
             lambda: dr.Client(endpoint=ctx.args.endpoint, token=ctx.users["old"].token, token_type="Bearer"))
    except Abort:
        pass

    def inactive():
        try:
            dr.Client(endpoint=ctx.args.endpoint, token=ctx.users["inactive"].token)
        except ClientError as e:
            if e.status_code != 401:
                raise AssertionError(f"status {e.status_code}, expected 401") from e
            return
        raise AssertionError("the inactive user's token was accepted")

    try:
        step("[handshake] an inactive user's token is refused with 401", inactive)
    except Abort:
        pass


# --------------------------------------------------------------------------------------------
# The types of contract §12 the Python client models: its own classes list and read them.

EXTRA_SEED = {
    # kind: (the old owner's entity, the new owner's entity)
    "application": ("650e00000000000000000001", "650e00000000000000000003"),
    "custom_application": ("650f00000000000000000001", "650f00000000000000000003"),
    "custom_application_source": ("651000000000000000000001", "651000000000000000000003"),
    "compliance_doc_template": ("651100000000000000000001", "651100000000000000000003"),
    "custom_job": ("651200000000000000000001", "651200000000000000000003"),
    "notebook": ("651300000000000000000001", "651300000000000000000003"),
}


def extra_type_checks(ctx: Ctx) -> None:
    """List and get through the client's classes, as the old owner: the list holds the old
    owner's entity and not the new owner's, and get-one reads it back by id."""
    from datarobot.models.notebooks import Notebook
    from datarobot.models.registry import Job

    classes = {
        "application": dr.Application,
        "custom_application": dr.CustomApplication,
        "custom_application_source": dr.CustomApplicationSource,
        "compliance_doc_template": dr.ComplianceDocTemplate,
        "custom_job": Job,
        "notebook": Notebook,
    }
    for kind, cls in classes.items():
        mine, theirs = EXTRA_SEED[kind]
        try:
            ctx.as_user("old")
            items = step(f"[{kind}] {cls.__name__}.list()", lambda: cls.list())
            ids = {i.id for i in items}
            R.check(f"[{kind}] the list holds what the caller may see, and only that",
                    mine in ids and theirs not in ids, f"ids={sorted(ids)}")
            one = step(f"[{kind}] {cls.__name__}.get(id)", lambda: cls.get(mine))
            R.check(f"[{kind}] get-one reads the entity back", one.id == mine and bool(one.name),
                    f"{one!r}")
            if kind == "notebook":
                R.check("[notebook] a notebook names its use case", one.use_case_id == "650700000000000000000002",
                        f"use_case_id={one.use_case_id!r}")
                scoped = step("[notebook] Notebook.list(use_cases=...) filters by use case",
                              lambda: Notebook.list(use_cases="650700000000000000000001"))
                R.check("[notebook] no notebook in use case A", scoped == [], f"{scoped!r}")
        except Abort:
            pass


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--endpoint", required=True, help="e.g. http://127.0.0.1:PORT/api/v2")
    ap.add_argument("--token", required=True, help="API token of the old owner (--old-user)")
    ap.add_argument("--admin-state-url", help="default: <endpoint origin>/__sim/state")
    ap.add_argument("--stats-url", help="default: <endpoint origin>/__sim/stats")
    ap.add_argument("--seed", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "seed.json"),
                    help="seed file the simulator was started with (source of the other users' tokens)")
    ap.add_argument("--admin-user", default="admin@datarobot.com")
    ap.add_argument("--old-user", default="old_user@datarobot.com")
    ap.add_argument("--new-user", default="new_user@datarobot.com")
    ap.add_argument("--third-user", default="third_user@datarobot.com")
    ap.add_argument("--inactive-user", default="inactive_user@datarobot.com")
    ap.add_argument("--kinds", default=",".join(KINDS), help="comma-separated subset of kinds")
    ap.add_argument("--project-create", action="store_true",
                    help="example 2 really calls Project.create (multipart upload + async status)")
    args = ap.parse_args()

    origin = "{0.scheme}://{0.netloc}".format(urllib.parse.urlparse(args.endpoint))
    sim = Sim(args.admin_state_url or origin + "/__sim/state", args.stats_url or origin + "/__sim/stats")

    with open(args.seed) as f:
        seed = json.load(f)
    tokens = {u["username"]: u.get("token") for u in seed["users"]}
    try:
        state = sim.state()
    except Exception as e:  # noqa: BLE001
        R.fail("[setup] GET /__sim/state", describe(e))
        print(f"{R.passed} passed, {R.failed} failed")
        return 1
    ids = {u["username"]: u["id"] for u in state["users"]}
    users: Dict[str, User] = {}
    for role, name in [("admin", args.admin_user), ("old", args.old_user), ("new", args.new_user),
                       ("third", args.third_user), ("inactive", args.inactive_user)]:
        if name not in ids:
            R.fail("[setup] users in /__sim/state", f"{name} missing")
            print(f"{R.passed} passed, {R.failed} failed")
            return 1
        users[role] = User(name, ids[name], args.token if role == "old" else tokens.get(name))
    R.check("[setup] /__sim/state lists the seeded users", True)
    st_admin = next(u for u in state["users"] if u["username"] == args.admin_user)
    st_inactive = next(u for u in state["users"] if u["username"] == args.inactive_user)
    R.check("[setup] state flags: admin orgAdmin, inactive user inactive",
            st_admin.get("orgAdmin") is True and st_inactive.get("active") is False,
            f"admin={st_admin}, inactive={st_inactive}")

    ctx = Ctx(args, sim, users)
    handshake_checks(ctx)
    if R.failed and not ctx.clients:
        print(f"{R.passed} passed, {R.failed} failed")
        return 1

    # Before the 13's transfers: a notebook shows its use case's access list.
    extra_type_checks(ctx)

    for kind in [k.strip() for k in args.kinds.split(",") if k.strip()]:
        try:
            run_kind(ctx, kind)
        except Exception as e:  # noqa: BLE001  (e.g. seed entity missing)
            R.fail(f"[{kind}] setup", describe(e))

    example_1(ctx)
    example_2(ctx)
    example_3(ctx)  # last: it makes new_user co-owner of every project old_user still has

    print(f"{R.passed} passed, {R.failed} failed")
    return 0 if R.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
