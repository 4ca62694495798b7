"""The Docker SDK for Python's images.build against berth: the cowsay-style image
from a context directory and from a file object, the stream's contents, a build
error with the failing command's exit code, and build args with a target."""
import io
import os
import sys
import tempfile

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
print("ok")
