FROM busybox
COPY --chmod=rwx a b
