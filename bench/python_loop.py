#!/usr/bin/env python3
"""The sharing documentation's third example, run with DataRobot's official Python client.

    python bench/python_loop.py --endpoint URL --token TOKEN --to NEW_OWNER --revoke OLD_OWNER

"To transfer ownership of all projects owned by your account to new_user without sending
notifications" (/work/shared/seeds/datarobot-sharing.md, Examples, third block), sequential as
written: `Project.list()`, then per project `Project.get()` and `project.share(...,
send_notification=False)`. One deliberate change so that both tools end in the same state:
the documented example only grants OWNER to the new owner; here the same `share` call also
revokes the old owner (`SharingAccess(OLD_OWNER, None)`), which is what `handover offboard`
does by default (`--old-owner-role none`: grant and revoke in one request). Pass no
`--revoke` to run the example exactly as documented.

The client is configured the way the example does it, with `dr.Client(config_path=...)` on a
temporary drconfig.yaml; no DATAROBOT_* variable or ~/.config file of this machine is read.
Prints one JSON line: projects listed, projects shared, seconds from `dr.Client` to the
last share (the interpreter's start and `import datarobot` are outside it).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

# Hermetic: no DATAROBOT_* variables and no ~/.config/datarobot/drconfig.yaml of this machine.
for _k in [k for k in os.environ if k.startswith("DATAROBOT_")]:
    del os.environ[_k]
os.environ["HOME"] = tempfile.mkdtemp(prefix="python-loop-home-")

import warnings  # noqa: E402

# datarobot 3.20.0's own Retry(allowed_methods={}) triggers a urllib3 FutureWarning.
warnings.filterwarnings("ignore", category=FutureWarning)

import datarobot as dr  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--endpoint", required=True, help="http://127.0.0.1:PORT/api/v2")
    ap.add_argument("--token", required=True, help="the token of the account whose projects move")
    ap.add_argument("--to", required=True, help="the new owner (share_targets of the example)")
    ap.add_argument("--revoke", default=None,
                    help="also revoke this user (the old owner) in the same share call")
    args = ap.parse_args()

    ydir = tempfile.mkdtemp(prefix="python-loop-")
    yaml_path = os.path.join(ydir, "drconfig.yaml")
    with open(yaml_path, "w") as f:
        f.write(f"endpoint: {json.dumps(args.endpoint)}\ntoken: {json.dumps(args.token)}\n")
    os.chmod(yaml_path, 0o600)

    start = time.monotonic()

    # --- the documentation's third example, from here ---
    # Put path to YAML credentials below
    dr.Client(config_path=yaml_path)

    # Get all projects for your account and store the ids in a list
    projects = dr.Project.list()

    project_ids = [project.id for project in projects]

    # List of emails to share with
    share_targets = [args.to]

    # Target role
    target_role = dr.enums.SHARING_ROLE.OWNER

    shared = 0
    for pid in project_ids:

        project = dr.Project.get(project_id=pid)

        shares = []

        for user in share_targets:

            shares.append(dr.SharingAccess(username=user, role=target_role))

        # The one addition: revoke the old owner in the same call (see the module doc).
        if args.revoke:
            shares.append(dr.SharingAccess(username=args.revoke, role=None))

        project.share(shares, send_notification=False)
        shared += 1
    # --- to here ---

    elapsed = time.monotonic() - start
    print(json.dumps({"listed": len(project_ids), "shared": shared, "seconds": round(elapsed, 3)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
