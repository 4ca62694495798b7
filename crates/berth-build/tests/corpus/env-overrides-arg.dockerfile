# build-arg: V=cli
FROM busybox
ARG V=arg
ENV V=env
ENV seen=$V
