FROM busybox
ENTRYPOINT --help
