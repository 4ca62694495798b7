"""The Docker SDK for Python's images.build against berth: the cowsay-style image
from a context directory and from a file object, the stream's contents, the web
server, every instruction, a COPY source changed, .dockerignore, a multi-stage build
with COPY --from and build args, a build error with the failing command's exit code,
and build args with a target."""
import io
import os
import sys
import tarfile
import tempfile
import time

import docker

client = docker.from_env()

with tempfile.TemporaryDirectory() as ctx:
    with open(os.path.join(ctx, "Dockerfile"), "w") as f:
        f.write('FROM busybox\nENV MESSAGE "nothing to say"\nCMD sh -c "echo $MESSAGE"\n')
    image, logs = client.images.build(path=ctx, tag="sdk-cowsay")
    text = "".join(chunk.get("stream", "") for chunk in logs)
    assert "Step 1/3 : FROM busybox" in text, text
    assert "Successfully tagged sdk-cowsay:latest" in text, text
    assert image.tags == ["sdk-cowsay:latest"], image.tags
    out = client.containers.run("sdk-cowsay", remove=True, network_mode="none")
    assert out == b"nothing to say\n", out
    out = client.containers.run(
        "sdk-cowsay", remove=True, network_mode="none", environment={"MESSAGE": "Hello world"}
    )
    assert out == b"Hello world\n", out
    # Again: every step from the cache, the same image.
    again, logs = client.images.build(path=ctx, tag="sdk-cowsay")
    text = "".join(chunk.get("stream", "") for chunk in logs)
    assert text.count("Using cache") == 2, text
    assert again.id == image.id

# A Dockerfile as a file object; build args and a target stage.
df = io.BytesIO(
    b"FROM busybox AS first\nARG WHO=nobody\nRUN echo hello-$WHO > /greeting\n"
    b"FROM busybox\nRUN exit 1\n"
)
image, _ = client.images.build(fileobj=df, tag="sdk-args", buildargs={"WHO": "sdk"}, target="first")
out = client.containers.run("sdk-args", ["cat", "/greeting"], remove=True, network_mode="none")
assert out == b"hello-sdk\n", out

# A failing RUN: BuildError with the command's words and code.
try:
    client.images.build(fileobj=io.BytesIO(b"FROM busybox\nRUN exit 7\n"), tag="sdk-bad")
except docker.errors.BuildError as e:
    assert "returned a non-zero code: 7" in str(e), str(e)
else:
    sys.exit("the failing build did not fail")


def write(ctx, files):
    for name, content in files.items():
        path = os.path.join(ctx, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb" if isinstance(content, bytes) else "w") as f:
            f.write(content)


def build(ctx, tag, **kw):
    image, logs = client.images.build(path=ctx, tag=tag, **kw)
    return image, "".join(chunk.get("stream", "") for chunk in logs)


# The web server: EXPOSE and a JSON-form CMD; it serves what was copied.
with tempfile.TemporaryDirectory() as ctx:
    write(ctx, {
        "Dockerfile": 'FROM busybox\nCOPY index.html /www/\nEXPOSE 80\nCMD ["httpd", "-f", "-p", "80", "-h", "/www"]\n',
        "index.html": "served by the sdk\n",
    })
    image, _ = build(ctx, "sdk-web")
    assert image.attrs["Config"]["ExposedPorts"] == {"80/tcp": {}}, image.attrs["Config"]
    web = client.containers.run("sdk-web", detach=True, network_mode="none")
    try:
        for _ in range(50):
            code, out = web.exec_run(["wget", "-qO-", "http://127.0.0.1/"])
            if code == 0:
                break
            time.sleep(0.1)
        assert out == b"served by the sdk\n", (code, out)
    finally:
        web.remove(force=True)

# Every instruction, and ONBUILD in a child.
with tempfile.TemporaryDirectory() as ctx:
    bundle = io.BytesIO()
    with tarfile.open(fileobj=bundle, mode="w") as t:
        data = b"from-tar"
        info = tarfile.TarInfo("inner.txt")
        info.size = len(data)
        info.mode = 0o644
        t.addfile(info, io.BytesIO(data))
    write(ctx, {
        "Dockerfile": (
            "FROM busybox\nLABEL sdk=yes\nMAINTAINER Jane <jane@example.com>\n"
            "LABEL kind=\"all of them\"\nCOPY hello.txt /app/\nADD bundle.tar /unpacked/\n"
            "WORKDIR /app\nRUN echo made-in-run > run.txt && echo app:x:1234:1234::/app:/bin/sh >> /etc/passwd\n"
            "VOLUME /data\nUSER app\nHEALTHCHECK --interval=5s --retries=2 CMD [\"true\"]\n"
            "ONBUILD RUN echo from-trigger\nSTOPSIGNAL SIGUSR1\n"
            'ENTRYPOINT ["sh", "-c", "echo $0 $(cat /app/hello.txt) $(cat run.txt) $(id -u) $(cat /unpacked/inner.txt)"]\n'
            'CMD ["argument"]\n'
        ),
        "hello.txt": "hi",
        "bundle.tar": bundle.getvalue(),
    })
    image, _ = build(ctx, "sdk-all")
    out = client.containers.run("sdk-all", remove=True, network_mode="none")
    assert out == b"argument hi made-in-run 1234 from-tar\n", out
    cfg = image.attrs["Config"]
    assert image.attrs["Author"] == "Jane <jane@example.com>", image.attrs["Author"]
    assert cfg["Labels"]["kind"] == "all of them", cfg["Labels"]
    assert cfg["WorkingDir"] == "/app" and cfg["User"] == "app", cfg
    assert cfg["Volumes"] == {"/data": {}}, cfg["Volumes"]
    assert cfg["Healthcheck"] == {"Test": ["CMD", "true"], "Interval": 5000000000, "Retries": 2}, cfg["Healthcheck"]
    assert cfg["OnBuild"] == ["RUN echo from-trigger"] and cfg["StopSignal"] == "SIGUSR1", cfg
    child, text = client.images.build(fileobj=io.BytesIO(b"FROM sdk-all\n"), tag="sdk-child")
    text = "".join(chunk.get("stream", "") for chunk in text)
    assert "# Executing 1 build trigger" in text and "from-trigger" in text, text
    assert not child.attrs["Config"].get("OnBuild"), child.attrs["Config"]

# A changed COPY source re-runs from that step on; .dockerignore keeps a file out.
with tempfile.TemporaryDirectory() as ctx:
    write(ctx, {
        "Dockerfile": "FROM busybox\nRUN echo sdk-copy > /one\nCOPY . /ctx/\nRUN cat /ctx/src.txt > /copy\n",
        "src.txt": "first",
        ".dockerignore": "secret.txt\n",
        "secret.txt": "keep me out",
    })
    build(ctx, "sdk-copy")
    _, text = build(ctx, "sdk-copy")
    assert text.count("Using cache") == 3, text
    write(ctx, {"src.txt": "second"})
    _, text = build(ctx, "sdk-copy")
    assert text.count("Using cache") == 1, text
    out = client.containers.run("sdk-copy", ["sh", "-c", "cat /copy; ls /ctx"], remove=True, network_mode="none")
    assert out.startswith(b"second") and b"secret.txt" not in out and b"src.txt" in out, out

# Multi-stage: COPY --from a stage, a build arg.
df = io.BytesIO(
    b"FROM busybox AS build\nARG VERSION=0\nRUN echo version-$VERSION > /out\n"
    b"FROM busybox\nCOPY --from=build /out /result\n"
)
client.images.build(fileobj=df, tag="sdk-multi", buildargs={"VERSION": "7"})
out = client.containers.run("sdk-multi", ["cat", "/result"], remove=True, network_mode="none")
assert out == b"version-7\n", out
print("ok")
