FROM busybox
LABEL a=1 b
