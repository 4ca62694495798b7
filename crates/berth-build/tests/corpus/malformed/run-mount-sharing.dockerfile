FROM busybox
RUN --mount=type=cache,target=/x,sharing=sometimes true
