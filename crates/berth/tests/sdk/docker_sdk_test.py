"""The Docker SDK for Python (PyPI `docker`) against a berth daemon: the same container
operations the CLI end-to-end tests make. Run by crates/berth/tests/sdk.rs with
DOCKER_HOST pointing at a daemon that has `busybox:latest`."""

import io
import sys
import tarfile
import time

import docker
from docker.errors import APIError, ContainerError, ImageNotFound, NotFound


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def main():
    client = docker.from_env(version="auto")
    check(client.ping(), "ping")
    v = client.version()
    check(v["ApiVersion"] == "1.41", "api version %r" % v.get("ApiVersion"))
    check(client.info()["Containers"] >= 0, "info")
    check(any("busybox:latest" in i.tags for i in client.images.list()), "images.list")

    # run, output, exit codes, errors
    out = client.containers.run("busybox", ["echo", "hello sdk"], remove=True)
    check(out == b"hello sdk\n", "run output %r" % out)
    try:
        client.containers.run("busybox", ["sh", "-c", "echo oops >&2; exit 3"], remove=True, stderr=True)
        raise AssertionError("ContainerError expected")
    except ContainerError as e:
        check(e.exit_status == 3, "exit status %r" % e.exit_status)
    try:
        client.containers.run("no-such-image-sdk:1", ["true"], remove=True)
        raise AssertionError("error expected for a missing image")
    except (ImageNotFound, NotFound, APIError):
        pass

    # detached lifecycle
    c = client.containers.run("busybox", ["sh", "-c", "echo started; exec sleep 1000"], detach=True, name="sdk-life")
    deadline = time.time() + 10
    while b"started" not in c.logs() and time.time() < deadline:
        time.sleep(0.05)
    check(c.logs() == b"started\n", "logs %r" % c.logs())
    c.reload()
    check(c.status == "running", "status %r" % c.status)
    check(any(x.id == c.id for x in client.containers.list()), "containers.list")
    check(client.containers.list(filters={"name": "sdk-life"})[0].id == c.id, "name filter")
    top = c.top()
    check(any("sleep 1000" in " ".join(p) for p in top["Processes"]), "top %r" % top)
    # The SDK reads the stream from the socket behind its HTTP parser: output must not
    # arrive with the response head (it would be lost), so try it many times.
    for _ in range(30):
        code, output = c.exec_run(["sh", "-c", "echo exec-out; exit 0"])
        check(code == 0 and output == b"exec-out\n", "exec_run %r %r" % (code, output))
    code, _ = c.exec_run(["sh", "-c", "exit 5"])
    check(code == 5, "exec exit %r" % code)
    c.pause()
    c.reload()
    check(c.status == "paused", "paused %r" % c.status)
    c.unpause()
    c.reload()
    check(c.status == "running", "unpaused")
    stats = c.stats(stream=False)
    check(stats["memory_stats"].get("usage", 0) > 0, "stats %r" % stats.get("memory_stats"))
    c.update(mem_limit="64m", memswap_limit="128m")
    c.reload()
    check(c.attrs["HostConfig"]["Memory"] == 64 * 1024 * 1024, "update")
    c.rename("sdk-life-2")
    c.reload()
    check(c.name == "sdk-life-2", "rename %r" % c.name)
    c.stop(timeout=1)
    c.reload()
    check(c.status == "exited", "stopped")
    c.start()
    c.restart(timeout=0)
    c.reload()
    check(c.status == "running", "restarted")
    c.kill()
    check(c.wait()["StatusCode"] == 137, "wait after kill")
    since = int(time.time()) - 60
    c.remove(force=True)
    try:
        client.containers.get(c.id)
        raise AssertionError("container still there after remove")
    except NotFound:
        pass
    events = client.events(since=since, until=int(time.time()) + 1, decode=True,
                           filters={"type": "container", "container": c.id})
    actions = {e["Action"] for e in events}
    for a in ("create", "start", "pause", "unpause", "kill", "die", "destroy"):
        check(a in actions, "event %s missing from %r" % (a, actions))

    # create + attach + start
    c = client.containers.create("busybox", ["sh", "-c", "read x; echo got $x"], stdin_open=True)
    sock = c.attach_socket(params={"stdin": 1, "stdout": 1, "stream": 1})
    c.start()
    sock._sock.sendall(b"sdk-input\n")
    data = b""
    deadline = time.time() + 10
    while b"got sdk-input" not in data and time.time() < deadline:
        chunk = sock._sock.recv(4096)
        if not chunk:
            break
        data += chunk
    check(b"got sdk-input" in data, "attach output %r" % data)
    check(c.wait()["StatusCode"] == 0, "attach wait")
    c.remove()

    # Files and volumes: put_archive / get_archive, a named volume, commit.
    vol = client.volumes.create("sdk-vol", labels={"from": "sdk"})
    check(vol.attrs["Labels"] == {"from": "sdk"}, "volume labels %r" % vol.attrs)
    c = client.containers.run("busybox", ["sleep", "1000"], detach=True,
                              volumes={"sdk-vol": {"bind": "/data", "mode": "rw"}})
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        payload = b"put by the sdk\n"
        info = tarfile.TarInfo("sdk.txt")
        info.size = len(payload)
        t.addfile(info, io.BytesIO(payload))
    check(c.put_archive("/data", buf.getvalue()), "put_archive")
    stream, stat = c.get_archive("/data/sdk.txt")
    check(stat["name"] == "sdk.txt" and stat["size"] == len(payload), "archive stat %r" % stat)
    got = tarfile.open(fileobj=io.BytesIO(b"".join(stream)))
    check(got.extractfile("sdk.txt").read() == payload, "get_archive content")
    try:
        c.get_archive("/no/such/path")
        check(False, "get_archive of a missing path succeeded")
    except docker.errors.NotFound:
        pass
    image = c.commit(repository="sdk-committed", tag="1", changes=["ENV SDK=yes"])
    check("sdk-committed:1" in image.tags, "commit tags %r" % image.tags)
    out = client.containers.run("sdk-committed:1", ["sh", "-c", "echo $SDK"], remove=True)
    check(out == b"yes\n", "committed image env %r" % out)
    out = client.containers.run("busybox", ["cat", "/v/sdk.txt"], remove=True,
                                volumes={"sdk-vol": {"bind": "/v", "mode": "ro"}})
    check(out == payload, "volume shared between containers %r" % out)
    try:
        vol.remove()
        check(False, "removing a volume in use succeeded")
    except docker.errors.APIError as e:
        check(e.status_code == 409, "volume in use: %r" % e)
    c.remove(force=True)
    vol.remove()
    client.images.remove("sdk-committed:1")
    networking(client)
    print("docker SDK: all checks passed")


WEB = ["sh", "-c", "mkdir -p /www && echo sdk-hello > /www/index.html && exec httpd -f -p 80 -h /www"]
# busybox's httpd starts in the background: asked a few times.
GET = "for i in 1 2 3 4 5 6 7 8 9 10; do wget -qO- http://%s/ && exit 0; sleep 0.3; done; exit 1"


def networking(client):
    """A user-defined network: a published port, names between containers, connect and
    disconnect of a running container, and the network's inspect document."""
    net = client.networks.create("sdknet", driver="bridge", labels={"sdk": "1"})
    made = []
    try:
        web = client.containers.run("busybox", WEB, detach=True, name="sdkweb", network="sdknet",
                                    ports={"80/tcp": ("127.0.0.1", None)})
        made.append(web)
        web.reload()
        ns = web.attrs["NetworkSettings"]
        ip = ns["Networks"]["sdknet"]["IPAddress"]
        check(ip.count(".") == 3, "address on sdknet %r" % ns)
        binding = ns["Ports"]["80/tcp"][0]
        check(binding["HostIp"] == "127.0.0.1" and int(binding["HostPort"]) >= 49153,
              "published port %r" % ns["Ports"])
        out = client.containers.run("busybox", ["sh", "-c", GET % "sdkweb"], network="sdknet",
                                    remove=True)
        check(b"sdk-hello" in out, "by name on sdknet %r" % out)
        other = client.containers.run("busybox", ["sleep", "60"], detach=True, name="sdkother")
        made.append(other)
        net.connect(other, aliases=["buddy"])
        other.reload()
        check("sdknet" in other.attrs["NetworkSettings"]["Networks"], "connect %r" % other.attrs)
        code, out = other.exec_run(["sh", "-c", GET % "sdkweb"])
        check(code == 0 and b"sdk-hello" in out, "after connect %r %r" % (code, out))
        net.reload()
        check(set(net.attrs["Containers"]) == {web.id, other.id}, "containers %r" % net.attrs)
        check(net.attrs["Labels"] == {"sdk": "1"}, "labels %r" % net.attrs)
        net.disconnect(other)
        other.reload()
        check("sdknet" not in other.attrs["NetworkSettings"]["Networks"], "disconnect")
        check([n.name for n in client.networks.list(names=["sdknet"])] == ["sdknet"], "list")
    finally:
        for c in made:
            c.remove(force=True)
        net.remove()
    check(client.networks.list(names=["sdknet"]) == [], "network removed")


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # report and fail
        print("FAILED: %s: %s" % (type(e).__name__, e), file=sys.stderr)
        sys.exit(1)
