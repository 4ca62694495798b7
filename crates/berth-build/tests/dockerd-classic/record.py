#!/usr/bin/env python3
"""Recording proxy used to make these fixtures (not used by the tests).

    record.py proxy LISTEN_SOCK UPSTREAM_SOCK OUTDIR
        relays every connection to UPSTREAM_SOCK unchanged and writes the raw bytes
        of connection N as OUTDIR/N.c2s and OUTDIR/N.s2c.
    record.py split OUTDIR
        parses those into HTTP exchanges: OUTDIR/N.K.request.txt (request line and
        headers), .request.body, .response.txt (status line and headers) and
        .response.body (the body with chunked transfer encoding removed, byte-exact).
"""
import os, socket, sys, threading, glob

def relay(src, dst, log):
    with open(log, "wb") as f:
        while True:
            try:
                b = src.recv(65536)
            except OSError:
                b = b""
            if not b:
                break
            f.write(b); f.flush()
            try:
                dst.sendall(b)
            except OSError:
                break
    try:
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        pass

def proxy(listen, upstream, out):
    os.makedirs(out, exist_ok=True)
    if os.path.exists(listen):
        os.unlink(listen)
    srv = socket.socket(socket.AF_UNIX); srv.bind(listen); srv.listen(16)
    n = 0
    while True:
        c, _ = srv.accept(); n += 1
        u = socket.socket(socket.AF_UNIX); u.connect(upstream)
        for a, b, suf in ((c, u, "c2s"), (u, c, "s2c")):
            threading.Thread(target=relay, args=(a, b, f"{out}/{n:03d}.{suf}"), daemon=True).start()

def read_msg(data, pos, is_resp, method=None):
    end = data.find(b"\r\n\r\n", pos)
    if end < 0:
        return None
    head = data[pos:end].decode("latin-1"); pos = end + 4
    lines = head.split("\r\n")
    hdrs = {}
    for l in lines[1:]:
        k, _, v = l.partition(":"); hdrs[k.strip().lower()] = v.strip()
    body = b""
    status = int(lines[0].split()[1]) if is_resp else None
    if is_resp and (method == "HEAD" or status in (204, 304) or 100 <= status < 200):
        pass
    elif hdrs.get("transfer-encoding", "").lower() == "chunked":
        while True:
            le = data.find(b"\r\n", pos)
            size = int(data[pos:le].split(b";")[0], 16); pos = le + 2
            if size == 0:
                pos = data.find(b"\r\n", pos) + 2  # no trailers expected
                break
            body += data[pos:pos + size]; pos += size + 2
    elif "content-length" in hdrs:
        n = int(hdrs["content-length"]); body = data[pos:pos + n]; pos += n
    elif is_resp:
        body = data[pos:]; pos = len(data)
    return head, body, pos, lines[0]

def split(out):
    for c2s in sorted(glob.glob(f"{out}/*.c2s")):
        base = c2s[:-4]
        req = open(c2s, "rb").read()
        resp = open(base + ".s2c", "rb").read() if os.path.exists(base + ".s2c") else b""
        rp = sp = 0; k = 0
        while rp < len(req):
            m = read_msg(req, rp, False)
            if not m:
                break
            head, body, rp, first = m; k += 1
            method = first.split()[0]
            p = f"{base}.{k}"
            open(p + ".request.txt", "w").write(head + "\n")
            open(p + ".request.body", "wb").write(body)
            r = read_msg(resp, sp, True, method) if sp < len(resp) else None
            if r:
                rhead, rbody, sp, _ = r
                open(p + ".response.txt", "w").write(rhead + "\n")
                open(p + ".response.body", "wb").write(rbody)
            print(p, first, "->", r[3] if r else None)

if __name__ == "__main__":
    if sys.argv[1] == "proxy":
        proxy(*sys.argv[2:5])
    else:
        split(sys.argv[2])
