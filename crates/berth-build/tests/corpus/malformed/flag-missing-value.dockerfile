FROM busybox
COPY --chown x y
