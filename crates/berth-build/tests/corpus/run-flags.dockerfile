FROM busybox
RUN --mount=type=cache,target=/root/.cache,sharing=locked,id=pip pip install x
RUN --mount=type=bind,from=build,source=/out,target=/in,rw cp -r /in /done
RUN --mount=type=tmpfs,dst=/tmp,size=64m --mount=type=secret,id=token,required=true ls
RUN --mount=type=ssh --network=none --security=insecure git clone x
RUN --mount=type=cache,destination=/c,mode=0700,uid=1,gid=2,ro true
RUN --mount=target=/src make
