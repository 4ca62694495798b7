"""Engine API fidelity: the requests that broke users' programs, through the Docker SDK
for Python, against berth (BERTH_HOST) and, when one runs (DOCKERD_HOST), a real
dockerd 20.10 with the same busybox image. Each check returns what a client observes;
berth's observation must be what the check expects, and equal dockerd's.

Deliberate differences in inspect documents are listed in INSPECT_DIFFERENCES and in
docs/api-differences.md.
"""

import json
import os
import socket
import sys
import time

import docker

BERTH = os.environ["BERTH_HOST"]
DOCKERD = os.environ.get("DOCKERD_HOST")

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, file=sys.stderr)


def api(host):
    return docker.APIClient(base_url=host, version="1.41", timeout=60)


def raw_create(c, body):
    """POST /containers/create with a body exactly as given: (status, json)."""
    r = c._post(c._url("/containers/create"), data=json.dumps(body),
                headers={"Content-Type": "application/json"})
    try:
        doc = r.json()
    except ValueError:
        doc = {"message": r.text}
    return r.status_code, doc


def cleanup(c, cid):
    try:
        c.remove_container(cid, force=True, v=True)
    except docker.errors.APIError:
        pass


# ---- 1. Request bodies decode as Go's encoding/json does -------------------------

def decoding(host):
    c = api(host)
    seen = {}
    # Any-case field names, nested too.
    st, doc = raw_create(c, {"image": "busybox", "cmd": ["true"], "labels": {"Tier": "x"},
                             "hostConfig": {"memory": 67108864, "restartpolicy": {"name": "no"}}})
    seen["any-case status"] = st
    if st == 201:
        i = c.inspect_container(doc["Id"])
        seen["any-case applied"] = (i["Config"]["Cmd"], i["Config"]["Labels"],
                                    i["HostConfig"]["Memory"])
        cleanup(c, doc["Id"])
    # null is the zero value, for any field.
    st, doc = raw_create(c, {"Image": "busybox", "Cmd": ["true"], "Env": None,
                             "Healthcheck": {"Test": ["CMD", "true"], "Interval": None,
                                             "Timeout": None, "Retries": None,
                                             "StartPeriod": None},
                             "HostConfig": {"Memory": None, "Binds": None, "Privileged": None}})
    seen["nulls status"] = st
    if st == 201:
        cleanup(c, doc["Id"])
    # Unknown fields are ignored.
    st, doc = raw_create(c, {"Image": "busybox", "NoSuchField": [1, 2],
                             "HostConfig": {"NoSuchEither": {"a": 1}}})
    seen["unknown status"] = st
    if st == 201:
        cleanup(c, doc["Id"])
    # A rejected body names the full path of the field at fault.
    for body, path in [
        ({"Image": "busybox", "Healthcheck": {"StartPeriod": "soon"}}, "Healthcheck.StartPeriod"),
        ({"Image": "busybox", "HostConfig": {"Memory": "lots"}}, "HostConfig.Memory"),
        ({"Image": "busybox", "HostConfig": {"RestartPolicy": {"MaximumRetryCount": "x"}}},
         "RestartPolicy.MaximumRetryCount"),
    ]:
        st, doc = raw_create(c, body)
        # dockerd 20.10 answers 500 here; berth 400, as later dockerd versions do
        # (docs/api-differences.md).
        seen[f"bad {path}"] = (st in (400, 500), path in doc.get("message", ""))
        seen[f"bad {path} status"] = st
    # An exec body in any case (detachKeys, attachStdout, cmd).
    cid = c.create_container("busybox", ["sleep", "300"])["Id"]
    c.start(cid)
    r = c._post_json(c._url("/containers/{0}/exec", cid),
                     data={"cmd": ["echo", "hi"], "attachStdout": True, "detachKeys": "ctrl-x"})
    eid = c._result(r, True)["Id"]
    seen["exec any-case"] = c.exec_start(eid)
    cleanup(c, cid)
    return seen


def decoding_expected(seen):
    check(seen["any-case status"] == 201, f"any-case create: {seen}")
    check(seen.get("any-case applied") == (["true"], {"Tier": "x"}, 67108864),
          f"any-case create applied: {seen}")
    check(seen["nulls status"] == 201, f"null fields: {seen}")
    check(seen["unknown status"] == 201, f"unknown fields: {seen}")
    for k, v in seen.items():
        if k.startswith("bad ") and k.endswith(" status"):
            check(v == 400, f"{k}: {v}")
        elif k.startswith("bad "):
            check(v == (True, True), f"{k}: {v}")
    check(seen["exec any-case"] == b"hi\n", f"exec any-case: {seen}")


# ---- 2. Exec start framing follows the start request's Tty -----------------------

def read_all(sock):
    sock = getattr(sock, "_sock", sock)
    sock.settimeout(30)
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk


def exec_framing(host):
    c = api(host)
    cid = c.create_container("busybox", ["sleep", "300"])["Id"]
    c.start(cid)
    seen = {}
    for created_tty, start_tty in [(True, False), (False, True), (False, False), (True, True)]:
        eid = c.exec_create(cid, ["echo", "hi"], tty=created_tty)["Id"]
        raw = read_all(c.exec_start(eid, tty=start_tty, socket=True))
        # What matters: framed (8-byte header, stream 1) or raw; a tty turns \n into \r\n.
        framed = len(raw) >= 8 and raw[0] == 1 and raw[1:4] == b"\0\0\0"
        payload = raw[8:] if framed else raw
        seen[(created_tty, start_tty)] = (framed, payload)
    cleanup(c, cid)
    return seen


def exec_framing_expected(seen):
    check(seen[(True, False)] == (True, b"hi\r\n"), f"exec tty, started without: {seen}")
    check(seen[(False, True)] == (False, b"hi\n"), f"exec no tty, started with: {seen}")
    check(seen[(False, False)] == (True, b"hi\n"), f"exec no tty: {seen}")
    check(seen[(True, True)] == (False, b"hi\r\n"), f"exec tty: {seen}")


# ---- 3. Commit of a container that exits during the commit -----------------------

def commit_while_exiting(host):
    c = api(host)
    failed = []
    made = []
    for i in range(3):
        cid = c.create_container("busybox", ["sh", "-c", "echo x > /f; sleep 0.5"])["Id"]
        c.start(cid)
        deadline = time.time() + 3
        while time.time() < deadline:
            try:
                made.append(c.commit(cid, repository="fidelity-commit", tag=str(i))["Id"])
            except docker.errors.APIError as e:
                failed.append(str(e))
            if not c.inspect_container(cid)["State"]["Running"]:
                break
        c.wait(cid)
        # And once more, stopped: nothing to pause.
        try:
            made.append(c.commit(cid, repository="fidelity-commit", tag=str(i))["Id"])
        except docker.errors.APIError as e:
            failed.append(str(e))
        cleanup(c, cid)
        try:
            c.remove_image(f"fidelity-commit:{i}", force=True)
        except docker.errors.APIError:
            pass
    return {"failed": failed, "made some": len(made) > 3}


def commit_expected(seen):
    check(seen == {"failed": [], "made some": True}, f"commit while exiting: {seen}")


# ---- 4. Attach logs=1&stream=0 to a stopped container ----------------------------

def raw_request(host, method, path):
    """One request as the docker CLI sends a hijacking one (Upgrade: tcp), over the
    unix socket, read to the end: (status, body). The SDK's own attach loses what the
    daemon sends before it reads the socket, with dockerd as with berth."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    s.connect(host[len("unix://"):])
    s.sendall(f"{method} {path} HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\n"
              "Upgrade: tcp\r\nContent-Length: 0\r\n\r\n".encode())
    data = read_all(s)
    s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1])
    if b"transfer-encoding: chunked" in head.lower():
        out = b""
        while body:
            size, _, rest = body.partition(b"\r\n")
            n = int(size, 16)
            if n == 0:
                break
            out += rest[:n]
            body = rest[n + 2:]
        body = out
    return status, body


def attach_stopped(host):
    c = api(host)
    # Apart in time, so the log's order is certain.
    cid = c.create_container("busybox", ["sh", "-c", "echo out; sleep 0.3; echo err >&2"])["Id"]
    c.start(cid)
    c.wait(cid)
    seen = {}
    for what, query in [("both", "stdout=1&stderr=1"), ("stdout", "stdout=1")]:
        status, body = raw_request(host, "POST",
                                   f"/v1.41/containers/{cid}/attach?logs=1&stream=0&{query}")
        seen[what] = (status in (101, 200), body)
    cleanup(c, cid)
    return seen


def attach_expected(seen):
    check(seen == {"both": (True, b"\x01\0\0\0\0\0\0\x04out\n\x02\0\0\0\0\0\0\x04err\n"),
                   "stdout": (True, b"\x01\0\0\0\0\0\0\x04out\n")},
          f"attach to stopped: {seen}")


# ---- 4b. Attach stream=1 to a stopped container: its next run --------------------

def hijack_open(host, path):
    """Sends a hijacking request and reads the response head: (socket, status, head,
    what came after the head)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    s.connect(host[len("unix://"):])
    s.sendall(f"POST {path} HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\n"
              "Upgrade: tcp\r\nContent-Length: 0\r\n\r\n".encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return s, int(head.split(b" ")[1]), head, rest


def attach_next_run(host):
    """docker-compose 1.29's `run` attaches after its first start, when the command may
    have ended already, then starts the container again: dockerd streams that next
    run to an attach made while the container was stopped (after its log, with
    logs=1)."""
    c = api(host)
    cid = c.create_container("busybox", ["echo", "out"])["Id"]
    c.start(cid)
    c.wait(cid)
    opened = {what: hijack_open(host, f"/v1.41/containers/{cid}/attach?{query}")
              for what, query in [("live", "stream=1&stdout=1&stderr=1"),
                                  ("logs and live", "logs=1&stream=1&stdout=1&stderr=1")]}
    c.start(cid)
    c.wait(cid)
    seen = {}
    for what, (s, status, head, rest) in opened.items():
        try:
            body = rest + read_all(s)
        except socket.timeout:
            body = b"(timed out)"
        s.close()
        seen[what] = (status in (101, 200), body)
    cleanup(c, cid)
    return seen


def attach_next_run_expected(seen):
    out = b"\x01\0\0\0\0\0\0\x04out\n"
    check(seen == {"live": (True, out), "logs and live": (True, out + out)},
          f"attach to stopped, then start: {seen}")


# ---- 5. Inspect documents: the same fields, types and empty values ---------------

# Paths where berth deliberately answers otherwise (docs/api-differences.md).
INSPECT_DIFFERENCES = [
    # berth's snapshotter keeps no work or merged directory for an image's layers.
    "$.GraphDriver.Data.MergedDir",
    "$.GraphDriver.Data.WorkDir",
    "$.GraphDriver.Data.LowerDir",
]


def shape(v, path, out):
    """Every path in a document with the types found there (a list's items share one
    path, so their order does not matter)."""
    types = set(out.get(path, "").split("|")) - {""}
    out[path] = "|".join(sorted(types | {type(v).__name__}))
    if isinstance(v, dict):
        for k, x in v.items():
            shape(x, f"{path}.{k}", out)
    elif isinstance(v, list):
        for x in v:
            shape(x, f"{path}[]", out)
    return out


RICH = {
    "Image": "busybox", "Cmd": ["sleep", "1"], "Entrypoint": ["/bin/sh", "-c"],
    "Env": ["A=1"], "Labels": {"l": "v"}, "WorkingDir": "/tmp", "User": "0:0",
    "Hostname": "h1", "Domainname": "d", "ExposedPorts": {"80/tcp": {}},
    "Volumes": {"/data": {}}, "StopSignal": "SIGUSR1", "StopTimeout": 5,
    "Healthcheck": {"Test": ["CMD", "true"], "Interval": 1000000000},
    "Tty": True, "OpenStdin": True,
    "HostConfig": {
        "Memory": 67108864, "CpuShares": 512,
        "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 2},
        "CapAdd": ["NET_ADMIN"], "CapDrop": ["MKNOD"],
        "Ulimits": [{"Name": "nofile", "Soft": 1024, "Hard": 2048}],
        "Tmpfs": {"/run": "size=1m"}, "Mounts": [{"Type": "volume", "Target": "/v"}],
        "Init": True, "ReadonlyRootfs": True, "SecurityOpt": ["no-new-privileges"],
        "ShmSize": 1048576, "LogConfig": {"Type": "json-file", "Config": {"max-size": "1m"}},
        "Binds": ["/tmp:/hosttmp:ro"], "GroupAdd": ["10"], "OomScoreAdj": 100,
        "PidsLimit": 50, "NetworkMode": "none",
    },
}


def inspect_shapes(host):
    c = api(host)
    seen = {}
    for name, body in [("plain", {"Image": "busybox", "Cmd": ["true"]}), ("rich", RICH)]:
        st, doc = raw_create(c, body)
        assert st == 201, (host, body, doc)
        cid = doc["Id"]
        seen[f"{name} created"] = shape(c.inspect_container(cid), "$", {})
        c.start(cid)
        c.wait(cid)
        seen[f"{name} exited"] = shape(c.inspect_container(cid), "$", {})
        cleanup(c, cid)
    # A running container on the default bridge with a published port: the endpoint.
    st, doc = raw_create(c, {"Image": "busybox", "Cmd": ["sleep", "30"],
                             "ExposedPorts": {"80/tcp": {}},
                             "HostConfig": {"PortBindings": {
                                 "80/tcp": [{"HostIp": "127.0.0.1", "HostPort": ""}]}}})
    assert st == 201, (host, doc)
    cid = doc["Id"]
    c.start(cid)
    running = c.inspect_container(cid)
    seen["published running"] = shape(running, "$", {})
    c.kill(cid)
    c.wait(cid)
    seen["published exited"] = shape(c.inspect_container(cid), "$", {})
    cleanup(c, cid)
    seen["image"] = shape(c.inspect_image("busybox"), "$", {})
    plain = c.inspect_container(c.create_container("busybox", ["true"])["Id"])
    seen["values"] = {
        "Runtime": type(plain["HostConfig"].get("Runtime")).__name__,
        "MaskedPaths": bool(plain["HostConfig"].get("MaskedPaths")),
        "OomKillDisable": plain["HostConfig"].get("OomKillDisable"),
        "KernelMemory": plain["HostConfig"].get("KernelMemory"),
        "Binds": plain["HostConfig"].get("Binds"),
        "Env": plain["Config"].get("Env"),
    }
    cleanup(c, plain["Id"])
    return seen


def inspect_expected(seen):
    check(seen["values"] == {"Runtime": "NoneType", "MaskedPaths": True, "OomKillDisable": False,
                             "KernelMemory": 0, "Binds": None, "Env": None},
          f"inspect values: {seen['values']}")


def differing(berth, dockerd):
    out = []
    for k in sorted(set(berth) | set(dockerd)):
        if any(k.startswith(p) for p in INSPECT_DIFFERENCES):
            continue
        if berth.get(k) != dockerd.get(k):
            out.append(f"{k}: berth {berth.get(k)}, dockerd {dockerd.get(k)}")
    return out


# ---- 6. Loading a broken archive ------------------------------------------------

def load_broken(host):
    client = docker.DockerClient(base_url=host, version="1.41", timeout=60)
    try:
        client.images.load(b"this is not a tar archive" * 100)
    except docker.errors.ImageLoadError:
        return "ImageLoadError"
    except docker.errors.APIError as e:
        return f"APIError {e.status_code}"
    return "no error"


# ---- 7. Swarm endpoints ---------------------------------------------------------

def swarm(host):
    client = docker.DockerClient(base_url=host, version="1.41", timeout=60)
    seen = {}
    for what, call in [
        # The SDK's leave(force=True) ignores exactly "not part of a swarm".
        ("leave --force", lambda: client.swarm.leave(force=True)),
        ("leave", lambda: client.swarm.leave()),
        ("services", lambda: client.services.list()),
        ("nodes", lambda: client.nodes.list()),
        ("secrets", lambda: client.secrets.list()),
        ("configs", lambda: client.configs.list()),
        ("tasks", lambda: client.api.tasks()),
        ("inspect", lambda: client.api.inspect_swarm()),
    ]:
        try:
            call()
            seen[what] = "ok"
        except docker.errors.APIError as e:
            seen[what] = (e.status_code, e.explanation)
    return seen


def swarm_expected(seen):
    check(seen["leave --force"] == "ok", f"swarm leave --force: {seen}")
    check(seen["leave"] == (503, "This node is not part of a swarm"), f"swarm leave: {seen}")
    for k in ["services", "nodes", "secrets", "configs", "tasks", "inspect"]:
        check(seen[k][0] == 503 and "not a swarm manager" in seen[k][1], f"{k}: {seen}")


# ---- 8. Not-found messages -------------------------------------------------------

def not_found(host):
    client = docker.DockerClient(base_url=host, version="1.41", timeout=60)
    seen = {}
    for what, call in [
        ("image get", lambda: client.images.get("nosuch-image:1")),
        ("image rm", lambda: client.images.remove("nosuch-image")),
        ("image history", lambda: client.api.history("nosuch-image")),
        ("container get", lambda: client.containers.get("nosuch-container")),
        ("container rm", lambda: client.api.remove_container("nosuch-container")),
        ("volume get", lambda: client.volumes.get("nosuch-volume")),
        ("volume rm", lambda: client.api.remove_volume("nosuch-volume")),
        ("exec inspect", lambda: client.api.exec_inspect("nosuch-exec")),
        ("run missing image", lambda: client.api.create_container("nosuch-image:1")),
    ]:
        try:
            call()
            seen[what] = "found"
        except docker.errors.APIError as e:
            seen[what] = (type(e).__name__, e.status_code, e.explanation)
    return seen


def not_found_expected(seen):
    want = {
        "image get": ("ImageNotFound", "No such image: nosuch-image:1"),
        "image rm": ("ImageNotFound", "No such image: nosuch-image:latest"),
        "image history": ("ImageNotFound", "No such image: nosuch-image:latest"),
        "container get": ("NotFound", "No such container: nosuch-container"),
        "container rm": ("NotFound", "No such container: nosuch-container"),
        "volume get": ("NotFound", "no such volume"),
        "volume rm": ("NotFound", "no such volume"),
        "exec inspect": ("NotFound", "No such exec instance: nosuch-exec"),
        "run missing image": ("ImageNotFound", "No such image: nosuch-image:1"),
    }
    for k, (cls, text) in want.items():
        got = seen[k]
        check(got != "found" and got[0] == cls and got[1] == 404 and text in got[2],
              f"{k}: {got}")


CHECKS = [
    ("decoding", decoding, decoding_expected),
    ("exec framing", exec_framing, exec_framing_expected),
    ("commit while exiting", commit_while_exiting, commit_expected),
    ("attach to a stopped container", attach_stopped, attach_expected),
    ("attach to a stopped container, then start", attach_next_run, attach_next_run_expected),
    ("inspect", inspect_shapes, inspect_expected),
    ("load of a broken archive", load_broken,
     lambda s: check(s == "ImageLoadError", f"load broken: {s}")),
    ("swarm", swarm, swarm_expected),
    ("not found", not_found, not_found_expected),
]


def main():
    only = set(sys.argv[1:])
    for name, run, expected in CHECKS:
        if only and name not in only:
            continue
        print(f"== {name}", file=sys.stderr)
        berth = run(BERTH)
        expected(berth)
        if not DOCKERD:
            continue
        dockerd = run(DOCKERD)
        if name == "inspect":
            for k in berth:
                if k == "values":
                    check(berth[k] == dockerd[k], f"inspect values: berth {berth[k]}, dockerd {dockerd[k]}")
                    continue
                diff = differing(berth[k], dockerd[k])
                check(not diff, f"inspect {k} differs from dockerd's:\n  " + "\n  ".join(diff))
        elif name == "not found":
            # The same exception and status; berth's words are dockerd's except where
            # dockerd 20.10 repeats itself ("no such image: x: No such image: x").
            for k in berth:
                b, d = berth[k], dockerd[k]
                check(b[:2] == d[:2], f"not found {k}: berth {b}, dockerd {d}")
        elif name == "decoding":
            same = {k: v for k, v in berth.items() if not k.endswith(" status")}
            theirs = {k: v for k, v in dockerd.items() if not k.endswith(" status")}
            check(same == theirs, f"decoding: berth {same}, dockerd {theirs}")
        else:
            check(berth == dockerd, f"{name}: berth {berth}, dockerd {dockerd}")
    if failures:
        print(f"{len(failures)} check(s) failed", file=sys.stderr)
        sys.exit(1)
    print("all checks passed" + (" (and match dockerd)" if DOCKERD else ""), file=sys.stderr)


if __name__ == "__main__":
    main()
