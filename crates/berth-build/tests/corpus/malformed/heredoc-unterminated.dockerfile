FROM busybox
RUN <<EOF
echo never ends
EOFX
