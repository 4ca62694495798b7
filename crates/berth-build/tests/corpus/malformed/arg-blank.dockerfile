ARG =x
FROM busybox
