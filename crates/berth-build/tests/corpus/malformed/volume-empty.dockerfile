FROM busybox
VOLUME ["/ok", ""]
