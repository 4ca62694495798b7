FROM busybox
VOLUME ["/a", "/b c"]
VOLUME /x /y
USER 1000
USER app:staff
WORKDIR /a
WORKDIR b
WORKDIR /path with spaces
